"""The guide's strength figure: a photograph inpainted at strength 0.3 and 1.0, same mask, same seed.

    python scripts/strength_figure.py        # writes docs/screenshots/strength.png
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.engine import Engine  # noqa: E402

PHOTO = ROOT / "assets" / "photos" / "sunset.jpg"
BOX = (350, 250, 900, 600)  # left, top, right, bottom: the painted mask


def main() -> None:
    engine = Engine.from_pretrained(None)
    picture = Image.open(PHOTO).convert("RGB")
    mask = np.zeros((picture.height, picture.width), bool)
    mask[BOX[1]:BOX[3], BOX[0]:BOX[2]] = True
    original = np.asarray(picture).astype(np.int16)
    panels = [("original, mask outlined", picture.copy())]
    for strength in (0.3, 1.0):
        result = engine.inpaint(picture, mask, strength=strength, seed=3)[0]
        change = np.abs(np.asarray(result).astype(np.int16) - original)[mask].mean()
        panels.append((f"strength {strength:g}: mean change {change:.1f} / 255", result))
    ImageDraw.Draw(panels[0][1]).rectangle(BOX, outline=(255, 255, 255), width=4)
    scale = 0.5
    w, h = int(picture.width * scale), int(picture.height * scale)
    sheet = Image.new("RGB", (3 * w + 40, h + 40), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (caption, image) in enumerate(panels):
        sheet.paste(image.resize((w, h), Image.LANCZOS), (10 + i * (w + 10), 30))
        draw.text((10 + i * (w + 10), 8), caption, fill="black")
    out = ROOT / "docs" / "screenshots" / "strength.png"
    sheet.save(out, optimize=True)
    print(out, [caption for caption, _ in panels])


if __name__ == "__main__":
    main()
