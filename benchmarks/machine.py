"""What machine a benchmark figure was taken on: printed with every figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS_OF_NOTE = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


def machine_info() -> dict:
    model, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                have = set(value.split())
                flags = [f for f in FLAGS_OF_NOTE if f in have]
    except OSError:
        pass
    info = {"cpu": model, "cpu_flags": flags, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


if __name__ == "__main__":
    import json

    print(json.dumps(machine_info()))
