"""Zero-shot edits of a picture, each a function of a `Pipeline`: it decides which latent cells are known and
which to generate, then calls `Pipeline.sample_tokens` (the one masked-decoding loop)."""
from .inpaint import edit, inpaint, outpaint, strength_cells
from .interpolate import interpolate
from .regenerate import Result, spread_cells
from .regions import mask_cells, region_box, region_padding
from .variations import enrich, vary

__all__ = ["Result", "edit", "enrich", "inpaint", "interpolate", "mask_cells", "outpaint", "region_box",
           "region_padding", "spread_cells", "strength_cells", "vary"]
