"""The package's layers (docs/architecture.md): imports run only downward (those under `TYPE_CHECKING` too), no
modules import each other in a circle, the command line is imported only by the app layer and the entry points,
no module is over 400 lines, and no class is built from mixins."""
import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bigr_app"

# bottom to top; a module may import a lower layer, or its own folder
LAYERS = {
    "errors": 0, "resources": 0, "checks": 0.1, "devices": 0.1, "images": 0.1, "resumable": 0.1, "processes": 0.1, "data": 0.2,
    "model": 1,
    "sampling": 2,
    "pipeline": 2.5,
    "edits": 3, "analysis": 3,
    "tasks": 3.5,
    "engine": 4, "training": 4,
    "tiny": 5,
    "app": 6,
    "__init__": 7, "__main__": 7, "train": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> tuple[int, str]:
    """(layer, folder) of a bigr_app module: the folder is the first name below the package."""
    parts = module.split(".")
    if len(parts) == 1:
        return LAYERS["__init__"], "__init__"
    return LAYERS[parts[1]], parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every bigr_app import, wherever it stands (under `if TYPE_CHECKING:` too: a circle that
    only type checkers see is still a circle)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            found += [(node.lineno, t) for t in targets if t.startswith("bigr_app")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("bigr_app")]
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "weights" not in p.parts and "assets" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_only_downward(path):
    mine, folder = layer_of(module_name(path))
    upward = [f"line {line}: {target}" for line, target in imports(path)
              if target != "bigr_app" and (layer_of(target)[1] != folder and layer_of(target)[0] >= mine)]
    assert not upward, f"{path.relative_to(ROOT)} imports upward: {upward}"


def module_of(target: str, modules: set[str]) -> str:
    """The module an import names (`bigr_app.edits.inpaint`, or the package of a name taken from it)."""
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p) for p in SOURCES}
    return {module_name(p): {module_of(t, modules) for _, t in imports(p)} - {module_name(p)} for p in SOURCES}


def test_no_modules_import_each_other_in_a_circle():
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as e:
        pytest.fail(f"import circle: {' -> '.join(e.args[1])}")


def command_line_helpers(path: Path) -> list[str]:
    """What `path` takes from the command-line modules other than their `main` (running a command is fine)."""
    taken = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] in ("cli", "train_cli", "options"):
            taken += [a.name for a in node.names if a.name != "main"]
    return taken


def test_nothing_outside_the_app_layer_uses_the_command_line_as_a_library():
    outside = [p for p in SOURCES if p.relative_to(PACKAGE).parts[0] != "app"]
    outside += sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    users = {str(p.relative_to(ROOT)): names for p in outside if (names := command_line_helpers(p))}
    assert not users, users


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            roots.add((node.module or "").split(".")[0])
    return roots


def test_only_the_page_imports_gradio_and_the_rest_runs_without_it():
    """The engine, the service, the HTTP API and the command line run where gradio is not installed (a GPU
    machine's Python, a script): only `app/ui/` may import it."""
    users = [str(p.relative_to(ROOT)) for p in SOURCES if "gradio" in imported_roots(p)
             and p.relative_to(PACKAGE).parts[:2] != ("app", "ui")]
    assert not users, users
    code = ("import sys; sys.modules['gradio'] = None\n"  # any import of gradio now fails
            "import bigr_app.engine, bigr_app.tasks, bigr_app.app.service, bigr_app.app.api, bigr_app.app.cli")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_modules_are_short_and_classes_have_no_mixins():
    long = {str(p.relative_to(ROOT)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
    mixed = [f"{p.relative_to(ROOT)}: {node.name}" for p in SOURCES for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.ClassDef) and ("Mixin" in node.name or any(
                 "Mixin" in ast.unparse(base) or "Actions" in ast.unparse(base) for base in node.bases))]
    assert not mixed, mixed


def test_the_check_sees_an_upward_import_even_for_type_checkers_only(tmp_path, monkeypatch):
    """A probe module in a copy of the tree: the check runs on it, and nothing is written into the package."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bigr_app" / "model" / "_upward_probe.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine import Engine\n")
    assert imports(bad) == [(3, "bigr_app.engine")]
    with pytest.raises(AssertionError, match="imports upward"):
        test_imports_run_only_downward(bad)
