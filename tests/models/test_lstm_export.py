"""The LSTM shape rule: the same export as torch's own tracing, and torch left as it was found."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch import nn
from torch._decomp import meta_table
from torch._decomp.decompositions import lstm_impl
from torch._subclasses.fake_impls import op_implementations_dict
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.export import Dim, ExportedProgram

from stockpredictor.models import ARCHITECTURES, build_model, model_spec
from stockpredictor.models.lstm_export import lstm_output_shapes, lstm_shape_rule

pytestmark = pytest.mark.filterwarnings(
    "ignore:The tensor attributes .*_flat_weights:UserWarning",  # as in `registry_models.log_model`
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning",
)

LSTM = torch.ops.aten.lstm.input
#: Few time steps: exporting without the rule traces a cell per step and layer.
STEPS = 4


def _lstm_arguments(lstm: nn.LSTM, batch: int) -> tuple[Any, ...]:
    """What `nn.LSTM.forward` passes to `aten.lstm.input` for a batch of `batch` sequences."""
    directions = 2 if lstm.bidirectional else 1
    width = lstm.proj_size or lstm.hidden_size
    x = torch.zeros((batch, STEPS, lstm.input_size) if lstm.batch_first else (STEPS, batch, lstm.input_size))
    h0 = torch.zeros(directions * lstm.num_layers, batch, width)
    c0 = torch.zeros(directions * lstm.num_layers, batch, lstm.hidden_size)
    return (
        x,
        [h0, c0],
        lstm._flat_weights,
        lstm.bias,
        lstm.num_layers,
        0.0,
        False,
        lstm.bidirectional,
        lstm.batch_first,
    )


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("num_layers", "proj_size"), [(1, 0), (2, 0), (2, 3)])
def test_the_rule_shapes_and_strides_the_outputs_as_the_decomposition_does(
    batch_first: bool, bidirectional: bool, num_layers: int, proj_size: int
) -> None:
    lstm = nn.LSTM(
        5, 6, num_layers, batch_first=batch_first, bidirectional=bidirectional, proj_size=proj_size
    )
    with FakeTensorMode(allow_non_fake_inputs=True):
        arguments = _lstm_arguments(lstm, batch=3)
        expected = lstm_impl(*arguments)
        got = lstm_output_shapes(*arguments)
    assert [(t.shape, t.stride(), t.dtype) for t in got] == [(t.shape, t.stride(), t.dtype) for t in expected]
    real = torch.lstm(*_lstm_arguments(lstm, batch=3))  # and as the CPU kernel does
    assert [(t.shape, t.stride()) for t in got] == [(t.shape, t.stride()) for t in real]


def _export(model: nn.Module) -> ExportedProgram:
    example = torch.randn(2, STEPS, 3, 4)
    return torch.export.export(model, (example,), dynamic_shapes=({0: Dim("batch")},))


def _code(program: ExportedProgram) -> str:
    """The graph's code, its symbolic sizes' numbering aside (the decomposition's nodes took numbers)."""
    return re.sub(r"sym_size_int_\d+", "sym_size_int", program.graph_module.code)


def _node_values(program: ExportedProgram) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each node's target with the shapes and strides export worked out for it."""
    described = []
    for node in program.graph.nodes:
        values = node.meta.get("val")
        flat = values if isinstance(values, tuple | list) else [values]
        described.append(
            (str(node.target), [(str(v.shape), str(v.stride())) for v in flat if isinstance(v, torch.Tensor)])
        )
    return described


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_an_export_under_the_rule_is_the_export_without_it(architecture: str) -> None:
    torch.manual_seed(0)
    spec = model_spec({"architecture": architecture, "hidden_size": 8, "num_layers": 2, "dropout": 0.1}, 3, 4)
    model = build_model(spec).eval()
    traced = _export(model)
    with lstm_shape_rule():
        ruled = _export(model)
    assert "aten.lstm.input" in {str(node.target) for node in ruled.graph.nodes}
    assert _code(ruled) == _code(traced)
    assert _node_values(ruled) == _node_values(traced)
    x = torch.randn(5, STEPS, 3, 4)  # another batch size than the example's
    with torch.no_grad():
        assert torch.equal(ruled.module()(x), traced.module()(x))
        assert torch.equal(ruled.module()(x), model(x))


def test_the_rule_leaves_torch_as_it_found_it_even_when_the_export_fails() -> None:
    kernels = dict(LSTM.py_kernels)
    with pytest.raises(RuntimeError, match="inside"), lstm_shape_rule():
        assert LSTM in meta_table and LSTM in op_implementations_dict
        raise RuntimeError("inside")
    assert LSTM not in meta_table
    assert LSTM not in op_implementations_dict
    assert dict(LSTM.py_kernels) == kernels
    with lstm_shape_rule():  # and can be used again
        pass
