"""The Gradio app, a thin layer over `Engine`: one module per tab (its actions and its layout), the shared
widgets in `common`, the page in `app`."""
from .page import CSS, build_ui
from .studio import Studio

__all__ = ["CSS", "Studio", "build_ui"]
