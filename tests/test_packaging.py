"""The project builds as a wheel that carries its console scripts, bundled model and assets."""
import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANYWHERE = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis")
AT_THE_TOP = {"build", "dist", "runs", "data", "outputs", ".gl", ".whl"}  # work folders, not sources


def not_sources(folder: str, names: list[str]) -> set[str]:
    return set(ANYWHERE(folder, names)) | (AT_THE_TOP & set(names) if Path(folder) == ROOT else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pkg")
    src = shutil.copytree(ROOT, tmp / "src", ignore=not_sources)
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(tmp / "dist"),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = (tmp / "dist").glob("bigr_studio-*.whl")
    return found


def test_wheel_declares_both_console_scripts(wheel):
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry = configparser.ConfigParser()
        entry.read_string(z.read(name).decode())
    assert dict(entry["console_scripts"]) == {"bigr-studio": "bigr_app.app.serve:main", "bigr": "bigr_app.app.cli:main"}


def test_wheel_carries_the_bundled_model_and_assets(wheel):
    with zipfile.ZipFile(wheel) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
    for rel in ("weights/default/config.json", "weights/default/model.safetensors", "assets/imagenet_classes.txt",
                "assets/examples/fox.png"):
        assert sizes.get(f"bigr_app/{rel}") == (ROOT / rel).stat().st_size, rel
    modules = {str(p.relative_to(ROOT)) for suffix in ("*.py", "*.js") for p in (ROOT / "bigr_app").rglob(suffix)
               if "__pycache__" not in p.parts}
    assert modules <= set(sizes), sorted(modules - set(sizes))  # every module of every subpackage, and its scripts
    assert not [n for n in sizes if n.startswith(("tests/", "bigr_app/weights/default/runs"))]


def test_installed_wheel_finds_its_bundled_model_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    code = ("import bigr_app, bigr_app.engine as e; eng = bigr_app.Engine.from_pretrained(); "
            "print(bigr_app.__file__); print(e.DEFAULT_WEIGHTS); print(eng.num_classes)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    package, weights, classes = proc.stdout.split()
    assert package.startswith(str(target)) and weights == str(target / "bigr_app" / "weights" / "default")
    assert int(classes) > 0


def test_every_table_in_the_docs_has_one_header():
    """A Markdown table is a header row, one separator row, then rows: a second separator is a second header."""
    import re

    separator = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("weights/*/*.md"))]:
        table: list[str] = []
        for line in [*doc.read_text().splitlines(), ""]:
            if line.startswith("|"):
                table.append(line)
                continue
            if table:
                separators = [i for i, row in enumerate(table) if separator.match(row)]
                assert separators == [1], f"{doc.name}: a table with header rows at {separators}: {table[0]}"
            table = []
