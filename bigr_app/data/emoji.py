"""Build the bundled model's dataset: Noto Color Emoji artwork, classes from Unicode's groups.

    python -m bigr_app.data.emoji --out data/emoji --size 64

Writes an ImageFolder tree DIR/{train,test}/<class>/<codepoints>.png on a white background
(10% of each class held out, chosen reproducibly) and DIR/labels.json with each emoji's name.
Sources: Debian `fonts-noto-color-emoji` (SIL OFL 1.1) and `unicode-data` (emoji-test.txt).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
BITMAP_SIZE = 109  # the only size of the font's colour bitmap strike

# Unicode subgroups merged into classes a person understands.
CLASS_OF_SUBGROUP = [
    (r"^(face-.*|cat-face|monkey-face)$", "smiley"),
    (r"^(hand-.*|hands|body-parts)$", "hand & body"),
    (r"^(person.*|family)$", "person"),
    (r"^animal-.*$", "animal"),
    (r"^plant-.*$", "plant"),
    (r"^(food-.*|drink|dishware)$", "food & drink"),
    (r"^(place-.*|hotel|sky & weather)$", "place & weather"),
    (r"^transport-(ground|water|air)$", "transport"),
    (r"^(event|award-medal|sport|game|arts & crafts)$", "activity"),
    (r"^(clothing|sound|music|musical-instrument|phone|computer|light & video|book-paper|money|mail|"
     r"writing|office|lock|tool|science|medical|household|other-object|time)$", "object"),
    (r"^(heart|emotion|transport-sign|warning|arrow|religion|zodiac|av-symbol|gender|math|punctuation|"
     r"currency|other-symbol|keycap|alphanum|geometric)$", "symbol"),
    (r"^(flag|country-flag|subdivision-flag)$", "flag"),
]
CLASSES = sorted({name for _, name in CLASS_OF_SUBGROUP})


@dataclass(frozen=True)
class Emoji:
    text: str
    name: str
    group: str
    subgroup: str

    @property
    def codepoints(self) -> str:
        return "_".join(f"{ord(c):04x}" for c in self.text)


def class_of(subgroup: str) -> str | None:
    for pattern, name in CLASS_OF_SUBGROUP:
        if re.match(pattern, subgroup):
            return name
    return None


def read_emoji_test(path: Path = EMOJI_TEST) -> list[Emoji]:
    """Fully-qualified emoji with their group and subgroup, in file order."""
    out, group, subgroup = [], "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line:
            codes, rest = line.split(";", 1)
            text = "".join(chr(int(c, 16)) for c in codes.split())
            name = re.sub(r"^.*?E\d+\.\d+\s+", "", rest.split("#", 1)[1]).strip()
            out.append(Emoji(text, name, group, subgroup))
    return out


def render(text: str, size: int, font: ImageFont.FreeTypeFont, margin: float = 0.06) -> Image.Image:
    """One emoji, shaped as one glyph (ZWJ sequences, flags, keycaps), centred on white."""
    canvas = Image.new("RGBA", (BITMAP_SIZE * 3, BITMAP_SIZE * 2), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((BITMAP_SIZE // 2, BITMAP_SIZE // 4), text, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"nothing rendered for {text!r}")
    glyph = canvas.crop(box)
    inner = round(size * (1 - 2 * margin))
    scale = inner / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    out.alpha_composite(glyph, ((size - glyph.width) // 2, (size - glyph.height) // 2))
    return out.convert("RGB")


def is_held_out(emoji: Emoji, share: float = 0.1) -> bool:
    digest = hashlib.sha256(emoji.text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def build(out: Path, size: int, limit_per_class: int | None = None) -> dict[str, int]:
    font = ImageFont.truetype(str(FONT), BITMAP_SIZE, layout_engine=ImageFont.Layout.RAQM)
    counts: dict[str, int] = {}
    labels = {}
    for emoji in read_emoji_test():
        cls = class_of(emoji.subgroup)
        if cls is None:  # the Component group: bare skin-tone and hair swatches
            continue
        if limit_per_class is not None and counts.get(cls, 0) >= limit_per_class:
            continue
        split = "test" if is_held_out(emoji) else "train"
        folder = out / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        render(emoji.text, size, font).save(folder / f"{emoji.codepoints}.png")
        labels[f"{split}/{cls}/{emoji.codepoints}.png"] = emoji.name
        counts[cls] = counts.get(cls, 0) + 1
    (out / "labels.json").write_text(json.dumps(labels, indent=0, ensure_ascii=False))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--limit-per-class", type=int, default=None, help="small subsets (test fixtures)")
    args = ap.parse_args()
    for path in (FONT, EMOJI_TEST):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: apt-get install fonts-noto-color-emoji unicode-data")
    counts = build(args.out, args.size, args.limit_per_class)
    print(f"{sum(counts.values())} emoji in {len(counts)} classes -> {args.out}")
    for cls, n in sorted(counts.items()):
        print(f"  {cls:<16} {n}")


if __name__ == "__main__":
    main()
