"""Build the bundled model's dataset: Noto Color Emoji artwork in classes that share a look.

    python -m bigr_app.data.emoji --out data/emoji64 --size 64

Each class gathers Unicode subgroups whose drawings look alike (smiling faces, hearts, flags,
clocks, ...); subgroups that share no look with any other (clothing, office, tools, ...) are left
out. Skin-tone and gender variants are folded into one drawing, the default one, so that no drawing
dominates; classes are capped at MAX_DRAWINGS drawings. Writes an ImageFolder tree
DIR/{train,test}/<class>/<codepoints>.png on white (per class, the drawings whose hash comes first are
held out), DIR/labels.json with each picture's name, and DIR/dataset.json with the classes whose
pictures must not be mirrored in training (text, flags, clock hands).
Sources: Debian `fonts-noto-color-emoji` (SIL OFL 1.1) and `unicode-data` (emoji-test.txt).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
EMOJIONE = Path("/usr/share/rubygems-integration/all/gems/gemojione-3.3.0/assets/png")
BITMAP_SIZE = 109  # the only size of the font's colour bitmap strike

CLASS_OF_SUBGROUP = [
    (r"^face-(smiling|affection|tongue|hand|hat|glasses)$", "smiling faces"),
    (r"^face-(neutral-skeptical|sleepy|unwell|concerned|negative)$", "other faces"),
    (r"^heart$", "hearts"),
    (r"^(hand-.*|hands)$", "hands"),
    (r"^(person.*|family)$", "people"),
    (r"^animal-mammal$", "mammals"),
    (r"^animal-(bird|marine|reptile|amphibian|bug)$", "birds, sea life & bugs"),
    (r"^plant-.*$", "plants & flowers"),
    (r"^food-(fruit|vegetable)$", "fruit & vegetables"),
    (r"^food-(prepared|asian|marine|sweet)$", "prepared food"),
    (r"^sky & weather$", "sky & weather"),
    (r"^place-.*$", "buildings & places"),
    (r"^transport-(ground|water|air)$", "vehicles"),
    (r"^time$", "clocks"),
    (r"^(keycap|alphanum)$", "keycaps & letters"),
    (r"^(arrow|av-symbol)$", "arrows & play buttons"),
    (r"^(zodiac|religion|transport-sign)$", "tile signs"),
    (r"^geometric$", "shapes"),
    (r"^(flag|country-flag|subdivision-flag)$", "flags"),
]
CLASSES = sorted({name for _, name in CLASS_OF_SUBGROUP})
NOT_MIRRORED = ["arrows & play buttons", "clocks", "flags", "keycaps & letters", "tile signs"]
MAX_DRAWINGS = 100  # only flags have more (261): the cap keeps the classes roughly balanced
HELD_OUT_SHARE, MIN_HELD_OUT = 0.12, 4
SKIN_TONES = re.compile(r"\b(light|medium-light|medium|medium-dark|dark) skin tone\b")
GENDER_WORDS = re.compile(r"\b(man|woman|person|men|women|people|boy|girl)\b")


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
    if canvas.getbbox() is None:
        raise ValueError(f"nothing rendered for {text!r}")
    return on_white(canvas, size, margin)


def on_white(glyph: Image.Image, size: int, margin: float = 0.06) -> Image.Image:
    """An RGBA drawing cropped to what it covers, scaled to fit `size` less the margin, centred on white."""
    glyph = glyph.crop(glyph.getbbox())
    inner = round(size * (1 - 2 * margin))
    scale = inner / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    out.alpha_composite(glyph, ((size - glyph.width) // 2, (size - glyph.height) // 2))
    return out.convert("RGB")


def drawing_of(emoji: Emoji) -> str:
    """What variants of one drawing share: the name without its skin tones and gender words."""
    name = GENDER_WORDS.sub("", SKIN_TONES.sub("", emoji.name))
    return emoji.subgroup + "/" + " ".join(re.sub(r"[:,]", " ", name).split())


def digest(emoji: Emoji) -> bytes:
    return hashlib.sha256(emoji.text.encode("utf-8")).digest()


def rank(emoji: Emoji) -> int:
    """A reproducible pseudo-random order (used to cap classes and to choose the held-out drawings)."""
    return int.from_bytes(digest(emoji)[:8], "big")


def v1_held_out(emoji: Emoji) -> bool:
    """The first bundled model's split: each emoji (variants too) held out on its own, by its hash."""
    return int.from_bytes(digest(emoji)[:4], "big") / 2**32 < 0.1


def drawings_by_class(items: list[Emoji]) -> dict[str, list[Emoji]]:
    """One emoji per drawing (the first in file order: the default skin tone and gender), at most
    MAX_DRAWINGS per class, in rank order."""
    firsts: dict[str, Emoji] = {}
    for emoji in items:
        if class_of(emoji.subgroup) is not None:
            firsts.setdefault(drawing_of(emoji), emoji)
    classes: dict[str, list[Emoji]] = defaultdict(list)
    for emoji in firsts.values():
        classes[class_of(emoji.subgroup)].append(emoji)
    return {cls: sorted(members, key=rank)[:MAX_DRAWINGS] for cls, members in sorted(classes.items())}


def held_out_count(n: int) -> int:
    return max(MIN_HELD_OUT, round(HELD_OUT_SHARE * n))


def build(out: Path, size: int, limit_per_class: int | None = None) -> dict[str, tuple[int, int]]:
    """Render the dataset; returns each class's (training, held-out) picture counts.

    Everything else that shares no drawing with a held-out picture (the folded variants, the capped flags,
    the subgroups left out) goes to DIR/extra/<class or "other">/: more pictures for the tokenizer, which
    needs no labels.
    """
    font = ImageFont.truetype(str(FONT), BITMAP_SIZE, layout_engine=ImageFont.Layout.RAQM)
    items = read_emoji_test()
    counts, labels, used, held_out, seen_by_v1 = {}, {}, set(), set(), []
    variants: dict[str, list[Emoji]] = defaultdict(list)
    for emoji in items:
        variants[drawing_of(emoji)].append(emoji)

    def save(emoji: Emoji, split: str, cls: str) -> None:
        folder = out / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        render(emoji.text, size, font).save(folder / f"{emoji.codepoints}.png")
        labels[f"{split}/{cls}/{emoji.codepoints}.png"] = emoji.name

    for cls, members in drawings_by_class(items).items():
        if limit_per_class is not None:
            members = members[:limit_per_class]
        n_test = min(held_out_count(len(members)), len(members) // 2)
        for i, emoji in enumerate(members):
            save(emoji, "test" if i < n_test else "train", cls)
            used.add(emoji.text)
            if i < n_test:
                held_out.add(drawing_of(emoji))
                if any(not v1_held_out(v) for v in variants[drawing_of(emoji)]):  # v1 trained on some variant
                    seen_by_v1.append(f"test/{cls}/{emoji.codepoints}.png")
        counts[cls] = (len(members) - n_test, n_test)
    if limit_per_class is None:
        for emoji in items:
            if emoji.group != "Component" and emoji.text not in used and drawing_of(emoji) not in held_out:
                save(emoji, "extra", class_of(emoji.subgroup) or "other")
    (out / "labels.json").write_text(json.dumps(labels, indent=0, ensure_ascii=False))
    description = f"{size}x{size} emoji drawings (Noto Color Emoji renders, {len(counts)} classes)"
    (out / "dataset.json").write_text(json.dumps(
        {"description": description, "classes": sorted(counts), "not_mirrored": NOT_MIRRORED,
         "held_out_seen_by_v1": sorted(seen_by_v1)}, indent=1))
    return counts


def emojione_file(codepoints: str) -> str:
    """EmojiOne's file name for our `Emoji.codepoints`: upper-case hex joined by '-', no variation selector."""
    return "-".join(c.upper() for c in codepoints.split("_") if c != "fe0f") + ".png"


def build_judge_style(out: Path, style: Path, size: int) -> int:
    """DIR/judge/<class>/: the training drawings as another artist drew them (EmojiOne), so the judge learns
    what makes a class rather than one artist's colours. Only training drawings: the held-out ones, and
    everything of theirs, stay unseen. Returns the count written."""
    written = 0
    for picture in sorted((out / "train").glob("*/*.png")):
        source = style / emojione_file(picture.stem)
        if source.is_file():
            folder = out / "judge" / picture.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            on_white(Image.open(source).convert("RGBA"), size).save(folder / picture.name)
            written += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--limit-per-class", type=int, default=None, help="small subsets (test fixtures)")
    ap.add_argument("--judge-style", type=Path, nargs="?", const=EMOJIONE, default=None,
                    help="also write DIR/judge/: the training drawings in EmojiOne's style, from this folder of "
                         f"its PNGs (default {EMOJIONE}: apt-get install ruby-gemojione), for the judge only")
    args = ap.parse_args()
    if args.judge_style is not None and not args.judge_style.is_dir():
        raise SystemExit(f"{args.judge_style} is missing: apt-get install ruby-gemojione")
    for path in (FONT, EMOJI_TEST):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: apt-get install fonts-noto-color-emoji unicode-data")
    counts = build(args.out, args.size, args.limit_per_class)
    train, test = (sum(c[i] for c in counts.values()) for i in (0, 1))
    extra = sum(1 for _ in (args.out / "extra").glob("*/*.png"))
    print(f"{train} training and {test} held-out drawings in {len(counts)} classes, {extra} extra pictures "
          f"for the tokenizer -> {args.out}")
    for cls, (n_train, n_test) in counts.items():
        print(f"  {cls:<24} {n_train:4} {n_test:3}")
    if args.judge_style is not None:
        print(f"{build_judge_style(args.out, args.judge_style, args.size)} training drawings in EmojiOne's style "
              f"for the judge -> {args.out / 'judge'}")


if __name__ == "__main__":
    main()
