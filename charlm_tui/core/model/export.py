"""Export a run's model to ONNX: the one-character step, so that anyone can sample from it with
onnxruntime in any language.

The graph is ``OneStep``: inputs ``token`` (int64, [B]) and ``h`` (float32, [L, B, H]), plus ``c``
for an LSTM; outputs ``logits`` (float32, [B, V]) and ``h_out`` (and ``c_out``). The batch axis is
dynamic. It is written with plain matrix products and gate maths (no ONNX LSTM/GRU op), the same
maths as ``CharLM.forward`` in eval mode; a JSON file beside it holds the vocabulary (id 0 is
<unk>, id i + 1 the i-th character of the string ``chars``) and the model settings.

After writing, ``check`` steps the exported model with onnxruntime and the engine's own stepper
side by side and reports the largest logit difference.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.model.charlm import CharLM

FORMAT = "charlm-tui onnx step"
FORMAT_VERSION = 1
OPSET = 17
CHECK_CHARS = 300
EXTRA = 'pip install "charlm-tui[export]"'  # what the export needs beyond the app


class ExportError(CharLMError):
    pass


def require(*modules: str) -> None:
    """Raise ExportError naming what to install when a module the export needs is missing."""
    import importlib

    missing = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            missing.append(m)
    if missing:
        raise ExportError(f"export needs {', '.join(missing)}: {EXTRA} (or pip install {' '.join(missing)})")


class OneStep(nn.Module):
    """One character through a CharLM, written out with matrix products (eval mode: no dropout)."""

    def __init__(self, model: CharLM):
        super().__init__()
        self.spec, self.H = model.spec, model.hidden_size
        self.embed = model.embed
        self.head = model.head
        self.w_ih = nn.ParameterList([la.weight_ih_l0 for la in model.layers])
        self.w_hh = nn.ParameterList([la.weight_hh_l0 for la in model.layers])
        self.b_ih = nn.ParameterList([la.bias_ih_l0 for la in model.layers])
        self.b_hh = nn.ParameterList([la.bias_hh_l0 for la in model.layers])

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None):
        x = self.embed(token)  # (B, E)
        hs, cs = [], []
        for i in range(len(self.w_ih)):
            gi = x @ self.w_ih[i].t() + self.b_ih[i]
            gh = h[i] @ self.w_hh[i].t() + self.b_hh[i]
            hi, ci = self.spec.torch_step(gi, gh, h[i], c[i] if c is not None else None)
            if ci is not None:
                cs.append(ci)
            hs.append(hi)
            x = hi
        logits = self.head(x)
        if cs:
            return logits, torch.stack(hs), torch.stack(cs)
        return logits, torch.stack(hs)


def export_model(model: CharLM, chars: list[str], out: Path, meta: dict) -> tuple[Path, Path]:
    """Write ``out`` (.onnx) and the JSON beside it; return both paths."""
    require("onnx")
    model = model.float().cpu().eval()
    lstm = model.has_cell_state
    L, H = model.num_layers, model.hidden_size
    step = OneStep(model).eval()
    token = torch.tensor([1], dtype=torch.long)
    h = torch.zeros(L, 1, H)
    args: tuple = (token, h, torch.zeros(L, 1, H)) if lstm else (token, h)
    names_in = ["token", "h", "c"] if lstm else ["token", "h"]
    names_out = ["logits", "h_out", "c_out"] if lstm else ["logits", "h_out"]
    json_path = out.with_suffix(".json")
    for target in (out, json_path):
        check_output_path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f".tmp-{os.getpid()}"
    tmp, json_tmp = out.with_name(out.name + tag), json_path.with_name(json_path.name + tag)
    try:
        _write_onnx(step, args, names_in, names_out, tmp)
        json_tmp.write_text(
            json.dumps(_describe(model, chars, out, meta), indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
        # both files are whole before either is in place; then the pair goes in together
        tmp.replace(out)
        try:
            json_tmp.replace(json_path)
        except OSError:
            out.unlink(missing_ok=True)
            raise
    finally:
        for t in (tmp, json_tmp):
            with contextlib.suppress(OSError):
                t.unlink()
    return out, json_path


def check_output_path(path: Path) -> None:
    """Refuse to write an export where no file of ours belongs: onto a device, FIFO or folder, or
    into /dev, /proc or /sys (as root, '--out /dev/full' wrote /dev/full.onnx)."""
    import stat

    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise CharLMError(f"{path}: cannot be written ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, FIFO or socket"
        raise CharLMError(f"{path} is {what}, not a file; give --out a file name in a folder of yours")
    parent = path.parent.resolve()
    if any(parent == Path(p) or Path(p) in parent.parents for p in ("/dev", "/proc", "/sys")):
        raise CharLMError(
            f"{path}: {parent} is a system folder of devices, not a place for files; choose another --out"
        )


def _write_onnx(step: nn.Module, args: tuple, names_in: list[str], names_out: list[str], tmp: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        common: dict[str, Any] = {"input_names": names_in, "output_names": names_out}
        try:  # the TorchScript exporter: fast and needs only onnx
            dynamic = {"token": {0: "batch"}, **{n: {1: "batch"} for n in names_in[1:]}}
            dynamic.update({"logits": {0: "batch"}, **{n: {1: "batch"} for n in names_out[1:]}})
            torch.onnx.export(step, args, str(tmp), **common, dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
        except OSError:
            raise  # the place is not writable: no other exporter would do better
        except Exception:  # a torch without it: the dynamo exporter (needs onnxscript)
            require("onnxscript")
            batch = torch.export.Dim("batch")
            shapes = ({0: batch}, *({1: batch} for _ in names_in[1:]))
            torch.onnx.export(step, args, str(tmp), **common, dynamic_shapes=shapes, dynamo=True, verbose=False)


def _describe(model: CharLM, chars: list[str], out: Path, meta: dict) -> dict:
    """The JSON written beside the .onnx: vocabulary, shape, inputs and outputs, and ``meta``."""
    L, H, lstm = model.num_layers, model.hidden_size, model.has_cell_state
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "onnx": out.name,
        "unk_id": 0,
        "chars": "".join(chars),  # id i + 1 is chars[i]; id 0 is <unk>
        "model": {
            "cell": model.cell,
            "vocab_size": len(chars) + 1,
            "embed_dim": model.embed.embedding_dim,
            "hidden_size": H,
            "num_layers": L,
        },
        "inputs": {
            "token": "int64 [batch]",
            "h": f"float32 [{L}, batch, {H}]",
            **({"c": f"float32 [{L}, batch, {H}]"} if lstm else {}),
        },
        "outputs": {
            "logits": f"float32 [batch, {len(chars) + 1}]",
            "h_out": "like h",
            **({"c_out": "like c"} if lstm else {}),
        },
        **meta,
    }


def check(model: CharLM, onnx_path: Path, n: int = CHECK_CHARS, seed: int = 0) -> float:
    """Step the exported model with onnxruntime and the engine's stepper over ``n`` random
    characters; return the largest absolute logit difference."""
    require("onnxruntime")
    import onnxruntime as ort

    model = model.float().cpu().eval()
    lstm = model.has_cell_state
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    stepper = model.stepper()
    stepper.load(model.init_state(1))
    L, H, V = model.num_layers, model.hidden_size, model.head.out_features
    h = np.zeros((L, 1, H), np.float32)
    c = np.zeros((L, 1, H), np.float32)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for tok in rng.integers(1, V, n):
        feed = {"token": np.array([tok], np.int64), "h": h, **({"c": c} if lstm else {})}
        outs = session.run(None, feed)
        h = outs[1]
        if lstm:
            c = outs[2]
        worst = max(worst, float(np.abs(outs[0][0] - stepper.step(int(tok))).max()))
    return worst
