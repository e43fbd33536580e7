"""Device selection: ``"auto"`` → CUDA when available, else CPU (torch is imported on first use)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from infra.errors import UserError

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceError", "resolve_device", "runs_on_cuda", "surely_cpu"]


class DeviceError(UserError, ValueError):
    """An unknown device name, or CUDA asked for where there is none (a user error)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a :class:`torch.device`.

    Raises:
        DeviceError: an unknown name, or CUDA asked for but not available.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
        return torch.device(name)
    raise DeviceError(f"unknown device {device!r}; use one of: auto, cpu, cuda, cuda:N")


def surely_cpu(device: str) -> bool:
    """Whether ``device`` is the CPU, decided without importing torch: ``"cpu"``, or ``"auto"`` on a
    machine without an NVIDIA driver (``/proc/driver/nvidia/version``). False = ask torch."""
    name = device.strip().lower()
    return name == "cpu" or (name == "auto" and not Path("/proc/driver/nvidia/version").exists())


def runs_on_cuda(device: str) -> bool:
    """Whether ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) resolves to a CUDA device; torch
    is imported only where :func:`surely_cpu` cannot tell."""
    return not surely_cpu(device) and resolve_device(device).type == "cuda"
