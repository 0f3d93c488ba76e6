"""Which devices the kernel can run propagation on."""

from __future__ import annotations

import torch


def list_devices() -> list[tuple[str, str]]:
    """(label, device string) for the CPU and every CUDA device, with name and memory."""
    out = [("CPU", "cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gib = props.total_memory / 2**30
            out.append((f"cuda:{i} · {props.name} ({gib:.0f} GiB)", f"cuda:{i}"))
    return out
