"""Zero-shot edits of a picture, each a function of an `Engine`: it decides which latent cells are known and
which to generate, then calls `Engine.sample_tokens` (the one masked-decoding loop)."""
from .canvas import canvas_preview
from .inpaint import edit, inpaint, outpaint, strength_cells
from .interpolate import interpolate
from .notes import frame_preview, mask_preview_and_note, picture_note
from .regenerate import Result, spread_cells
from .regions import mask_cells, mask_preview, region_box, region_padding
from .variations import enrich, vary

__all__ = ["Result", "canvas_preview", "edit", "enrich", "frame_preview", "inpaint", "interpolate", "mask_cells",
           "mask_preview", "mask_preview_and_note", "outpaint", "picture_note", "region_box", "region_padding",
           "spread_cells", "strength_cells", "vary"]
