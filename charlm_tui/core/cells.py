"""The recurrent cells a model can have: what the rest of the house needs to know of each, written
once. This half is torch-free (the config, the CLI parser and the Configure form read it at start-up);
``charlm_tui.core.model.cells`` adds the torch module and the one-step maths of each.

Adding a cell: a ``CellShape`` here, a ``CellSpec`` in ``core.model.cells`` (its torch module and its
step written three ways: NumPy for the CPU stepper, torch ops for ONNX, the single-step ATen kernel),
and ``register`` both. Everything else (parameter counts, the parser's choices, the form, the
stepper, export, snapshots and the tests' parametrisation) reads the registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CellShape:
    name: str
    gates: int  # weight blocks per layer: hidden_size x gates rows in weight_ih and weight_hh
    cell_state: bool  # the state is (h, c), not h alone


CELL_SHAPES: dict[str, CellShape] = {}


def register_shape(shape: CellShape) -> None:
    CELL_SHAPES[shape.name] = shape


for _shape in (CellShape("lstm", 4, True), CellShape("gru", 3, False), CellShape("rnn", 1, False)):
    register_shape(_shape)


def cell_names() -> tuple[str, ...]:
    """Every registered cell, in the order they were registered (the default first)."""
    return tuple(CELL_SHAPES)


def cell_shape(name: str) -> CellShape:
    from charlm_tui.core.errors import ConfigError

    try:
        return CELL_SHAPES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"cell must be one of {', '.join(CELL_SHAPES)}, got {name!r}") from None
