"""Where the bundled weights and assets are: beside the package when installed from a wheel,
at the top of the checkout when run from one (or installed with `pip install -e .`)."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _installed_or_checkout(name: str) -> Path:
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


WEIGHTS = _installed_or_checkout("weights")
ASSETS = _installed_or_checkout("assets")
