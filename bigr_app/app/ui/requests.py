"""A tab's form as data: the sampling knobs and the mask options each arrive as one dataclass, named as the
gradio API names them, built from their Gradio components in one place (`Form`), and turned into the task's
request (`tasks`) in one method each; and `handler` turns a function of those into a Gradio handler
whose API arguments keep their names and order."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Any, Callable

import gradio as gr

from ... import tasks
from ...checks import whole_number


@dataclass(frozen=True)
class Sampling:
    """The "Sampling settings" knobs (every tab), named as the API names them."""
    seed: int
    cfg: float
    iterations: int
    gumbel: float
    steps: int
    n: int = 1  # samples

    @classmethod
    def read(cls, seed, cfg, iterations, gumbel, steps, n=1, max_samples: int = 8) -> "Sampling":
        n = whole_number("number of samples", int(n), 1, max_samples)
        return cls(int(seed), float(cfg), int(iterations), float(gumbel), int(steps), n)

    def knobs(self) -> tasks.Sampling:
        """The knobs as a task request takes them (the seed and the sample count are its own fields)."""
        return tasks.Sampling(cfg_scale=self.cfg, iterations=self.iterations, gumbel=self.gumbel,
                              diffusion_steps=self.steps)


@dataclass(frozen=True)
class MaskOptions:
    """How a masked edit (Inpaint, Edit class, in-frame Outpaint) treats the picture and its mask."""
    mask_file: str | None
    class_name: str | None
    blend_mode: str
    radius: float
    region: str
    padding: int
    fit: str
    grow: int
    strength: float = 1.0
    paste: str = "mask"

    @classmethod
    def read(cls, mask_file, class_name, blend_mode, radius, region, padding, fit, grow, strength=1.0,
             paste="mask") -> "MaskOptions":
        return cls(mask_file, class_name, blend_mode, float(radius), region, int(padding), fit, int(grow),
                   float(strength), paste)

    def preview_options(self) -> dict:
        """What the cell preview depends on."""
        return dict(fit=self.fit, grow=self.grow, region=self.region, padding=self.padding or None)

    def request_options(self) -> dict:
        """The options as a masked task request (`tasks.MaskedRequest`) names them (the class is its own field)."""
        return dict(self.preview_options(), blend_mode=self.blend_mode, feather_radius=self.radius,
                    strength=self.strength, paste=self.paste)


@dataclass(frozen=True)
class Expansion:
    """Outpaint's mode and, in expand mode, the pixels added on each side."""
    mode: str
    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def read(cls, mode, left, top, right, bottom) -> "Expansion":
        return cls(mode, int(left), int(top), int(right), int(bottom))

    @property
    def sides(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.right, self.bottom


class Form:
    """Components whose values reach a handler as one request: `kind.read(**values)`, with `fixed` added."""

    def __init__(self, kind: type, components: dict[str, gr.components.Component], **fixed: Any):
        names = {f.name for f in fields(kind)}
        if not set(components) <= names:
            raise ValueError(f"{kind.__name__} has no fields {sorted(set(components) - names)}")
        self.kind, self.components, self.fixed = kind, components, fixed

    def read(self, values: dict[str, Any]) -> Any:
        return self.kind.read(**{name: values[name] for name in self.components if name in values}, **self.fixed)


def handler(fn: Callable, api: dict[str, Any], *parts: str | Form,
            defaults: dict[str, Any] | None = None) -> tuple[Callable, list]:
    """(handler, inputs) for an event. `api`: the inputs by their API names, in the API's order (a `Form` stands
    for all its components, in its own order). `fn(*parts, request=..., progress=...)` gets, for a name, that
    input's value, and for a `Form`, its request. `defaults`: API arguments a caller may leave out."""
    components = {}
    for name, item in api.items():
        components.update(item.components if isinstance(item, Form) else {name: item})
    names = list(components)

    def run(*values):
        *values, request, progress = values
        given = dict(zip(names, values))
        return fn(*(given[p] if isinstance(p, str) else p.read(given) for p in parts), request=request,
                  progress=progress)

    defaults = defaults or {}
    plain = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults.get(n, inspect.Parameter.empty))
             for n in names]
    special = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request),
               inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    run.__signature__ = inspect.Signature(plain + special)  # Gradio reads the API's argument names from it
    run.__annotations__ = {"request": gr.Request}  # ... and finds where to pass the request by its annotation
    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "handler")
    return run, list(components.values())
