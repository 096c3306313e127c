"""torch's answer to "is CUDA available?" without NVML, for processes that train on the CPU.

Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` for the whole process, so that a
process that forks later does not hold an initialised CUDA driver. With it, a CUDA build of torch
answers ``torch.cuda.is_available()`` by loading NVML again until CUDA is initialised, which a
CPU run never does, and torch's optimizers ask on every ``step()``: on a machine without an
NVIDIA driver every load fails, ~1 ms of a tiny GAN's step here. A plain PyTorch script does not
pay it; a CPU run's children (DataLoader workers) never use CUDA.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


@contextlib.contextmanager
def without_nvml_probe() -> Iterator[None]:
    saved = os.environ.pop(NVML_CHECK, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[NVML_CHECK] = saved
