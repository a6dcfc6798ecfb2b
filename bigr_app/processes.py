"""Jobs split over several processes (torchrun, accelerate launch): the process group is gloo on CPUs and
nccl on GPUs. accelerate picks a CPU group only when told the job runs on CPUs; otherwise, on a machine with
no GPU, each process would run the whole job alone."""
from __future__ import annotations

import torch


def runs_on_cpu(device: str | None = "auto", cpu: bool = False) -> bool:
    """Whether a job asked to run on `device` ("auto": a GPU if there is one) runs on CPUs."""
    return cpu or device == "cpu" or (device in (None, "auto") and not torch.cuda.is_available())


def process_state(device: str | None = "auto"):
    """accelerate's PartialState for a job on `device`: this process's rank, the process count, its device."""
    from accelerate import PartialState

    return PartialState(cpu=runs_on_cpu(device))
