"""`torch.export` of an `nn.LSTM` without tracing its decomposition: a shape rule for `aten.lstm`.

The exported graph keeps `aten.lstm.input` as one node, but torch 2.13 works out that node's output
shapes by running the op's Python decomposition on fake tensors with a symbolic batch: a cell per
time step and layer, about 3,400 fake ops for 30 steps and 2 layers, nearly all of a warm
`log_model`'s CPU. Inside `lstm_shape_rule()` export keeps the op whole while tracing and fake
tensors get its output shapes and strides from `lstm_output_shapes` (those of the decomposition and
of the CPU kernel, checked in `tests/models/test_lstm_export.py`); the graph is the same node for
node.

It relies on three torch internals, all of the pinned torch 2.13.0 and all used by torch.export
itself to keep composite ops whole (`ExportedProgram.run_decompositions`):
`_override_composite_implicit_decomp` (the op is preserved while tracing), the fake-tensor rule
registry `fake_impls.register_op_impl`, and `torch._decomp.meta_table` (fake tensors consult the
rule instead of the decomposition). The tests fail if a torch upgrade changes any of them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch._decomp import meta_table
from torch._export.utils import _special_op_to_preserve_cia
from torch._subclasses.fake_impls import _deregister_op_impl, register_op_impl
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.export.exported_program import _override_composite_implicit_decomp

_LSTM = torch.ops.aten.lstm.input
#: The rule changes process-wide torch tables: one export at a time uses it.
_IN_USE = threading.Lock()


def lstm_output_shapes(
    input: torch.Tensor,
    hx: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Empty tensors shaped and strided as `aten.lstm.input`'s (output, h_n, c_n) for these arguments
    (`input` is batched, 3-D: what `nn.LSTM` passes and all the op accepts)."""
    directions = 2 if bidirectional else 1
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    width = directions * hx[0].shape[-1]  # hidden size, or the projection's size
    if batch_first:  # computed time-major, returned as a transposed view
        output = input.new_empty_strided((batch, steps, width), (width, batch * width, 1))
    else:
        output = input.new_empty((steps, batch, width))
    layers = directions * num_layers
    h_n = hx[0].new_empty((layers, batch, hx[0].shape[-1]))
    c_n = hx[1].new_empty((layers, batch, hx[1].shape[-1]))
    return output, h_n, c_n


def _fake_lstm(fake_mode: FakeTensorMode, func: Any, *args: Any, **kwargs: Any) -> Any:
    with fake_mode:
        return lstm_output_shapes(*args, **kwargs)


@contextmanager
def lstm_shape_rule() -> Iterator[None]:
    """Within the block, `torch.export` keeps `aten.lstm` whole and shapes it by `lstm_output_shapes`."""
    with _IN_USE:
        register_op_impl(_LSTM)(_fake_lstm)
        meta_table[_LSTM] = lstm_output_shapes
        try:  # finding a fake-tensor rule registered, the override keeps ours
            with _override_composite_implicit_decomp({_LSTM: _special_op_to_preserve_cia}):
                yield
        finally:
            del meta_table[_LSTM]
            _deregister_op_impl(_LSTM)
