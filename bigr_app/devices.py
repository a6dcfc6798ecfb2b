"""Where and how the models run: the device, the precision (bf16 only where the hardware has it) and whether
sampling replays recorded CUDA graphs."""
from __future__ import annotations

import contextlib

import torch

from .errors import InputError

PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where the device runs it natively, else fp32
GRAPH_MODES = ("auto", "on", "off")  # CUDA graphs for sampling; auto: on a GPU


def pick_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA was asked for but is not available on this machine")
    return device


def cpu_has_native_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pick_precision(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16'. 'auto' is bf16 on a GPU and on a CPU with native bf16 matrix units
    (AVX512-BF16 / AMX), where batched sampling is about 1.4x faster; fp32 elsewhere, where bf16
    would only be emulated."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def pick_graphs(graphs: str, device: torch.device) -> bool:
    """Whether sampling replays recorded CUDA graphs: 'auto' on a GPU, 'on' or 'off'."""
    if graphs not in GRAPH_MODES:
        raise InputError(f"graphs must be one of {GRAPH_MODES}, got {graphs!r}")
    if graphs == "on" and device.type != "cuda":
        raise InputError("CUDA graphs need a CUDA device")
    return device.type == "cuda" if graphs == "auto" else graphs == "on"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` for precision "bf16"; nothing for "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
