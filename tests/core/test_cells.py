"""One registry entry per cell: a cell registered here, in one place (a ReLU Elman RNN, test-only),
works everywhere the built-in cells do: parameter counts, the full forward against both steppers,
ONNX export against onnxruntime, the CLI's choices, training, and resuming from a snapshot."""

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from charlm_tui.core.cells import CELL_SHAPES, CellShape, cell_names
from charlm_tui.core.model.cells import CELLS, CellSpec
from charlm_tui.core.model.stepper import CpuStepper, TorchStepper


def _relu_numpy(g, gi, h, _c, _s, _b_hh, _H) -> None:
    g += gi
    np.maximum(g, 0.0, out=h)


def _relu_torch(gi, gh, _h, _c):
    return torch.relu(gi + gh), None


@pytest.fixture
def relu_cell(monkeypatch):
    """The whole of what adding a cell takes: one spec, registered (undone after the test)."""
    spec = CellSpec(
        CellShape("rnn_relu", gates=1, cell_state=False),
        partial(nn.RNN, nonlinearity="relu"),
        torch.rnn_relu_cell,
        True,
        _relu_numpy,
        _relu_torch,
    )
    monkeypatch.setitem(CELLS, spec.name, spec)
    monkeypatch.setitem(CELL_SHAPES, spec.name, spec.shape)
    return spec.name


def test_the_builtin_cells_are_registered_with_their_shapes():
    assert cell_names() == ("lstm", "gru", "rnn")
    assert [(CELLS[n].shape.gates, CELLS[n].shape.cell_state) for n in cell_names()] == [
        (4, True),
        (3, False),
        (1, False),
    ]


def test_a_cell_registered_in_one_place_works_everywhere(relu_cell, home, tiny_file, tmp_path):
    from charlm_tui.cli.parser import build_parser
    from tests.cli.test_export import test_onnxruntime_steps_match_the_engine_token_by_token as onnx_matches
    from tests.core.test_model import test_shapes_state_and_param_count as shapes_and_count
    from tests.core.test_model import test_stepper_matches_the_full_forward_one_token_at_a_time as steppers_match

    shapes_and_count(relu_cell)
    for backend in (CpuStepper, TorchStepper):
        steppers_match(relu_cell, backend)
    onnx_matches(relu_cell, tmp_path)
    assert build_parser().parse_args(["train", "x", "--cell", relu_cell]).cell == relu_cell

    from charlm_tui.core.training.jobs import new_job, resume_job
    from charlm_tui.core.training.trainer import TrainConfig

    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=10, event_interval=1e9, seed=2)
    job = new_job(home, str(tiny_file), {"cell": relu_cell, "embed_dim": 4, "hidden_size": 8, "num_layers": 2}, cfg)
    first = job.start()
    assert first.best_val_nll is not None and job.run.config["model"]["cell"] == relu_cell
    resumed = resume_job(home, job.run.id, {"max_steps": 15})
    assert resumed.trainer.hidden is not None  # the carried state came back from the snapshot
    assert resumed.start().step == 15
