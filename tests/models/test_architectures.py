"""Architectures: shapes, stock mixing, spec round trip, validation and torch.export."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from stockpredictor.models import ARCHITECTURES, ModelSpec, build_model

SEQ, STOCKS, FEATURES = 6, 3, 4


def _spec(architecture: str, **overrides: object) -> ModelSpec:
    fields: dict[str, object] = {
        "architecture": architecture,
        "n_stocks": STOCKS,
        "n_features": FEATURES,
        "hidden_size": 8,
        "num_layers": 2,
        "dropout": 0.1,
        "attention_heads": 2,
    }
    fields.update(overrides)
    return ModelSpec.from_dict(fields)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_output_shape(architecture: str, num_layers: int) -> None:
    torch.manual_seed(0)
    model = build_model(_spec(architecture, num_layers=num_layers))
    for batch in (1, 5):
        out = model(torch.randn(batch, SEQ, STOCKS, FEATURES))
        assert out.shape == (batch, STOCKS)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_prediction_sees_other_stocks_and_earlier_days(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_model(_spec(architecture)).eval()
    x = torch.randn(2, SEQ, STOCKS, FEATURES)
    changed = x.clone()
    changed[:, 0, 1] += 1.0  # first day of stock 1 only
    with torch.no_grad():
        delta = (model(changed) - model(x)).abs()
    assert (delta[:, 0] > 0).all() and (delta[:, 2] > 0).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_spec_round_trips_through_json(architecture: str) -> None:
    spec = _spec(architecture)
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_spec_from_dict_defaults_heads_and_rejects_unknown_keys() -> None:
    data = {
        "architecture": "lstm",
        "n_stocks": 2,
        "n_features": 3,
        "hidden_size": 4,
        "num_layers": 1,
        "dropout": 0,
    }
    assert ModelSpec.from_dict(data).attention_heads == 1
    with pytest.raises(ValueError, match="hidden"):
        ModelSpec.from_dict({**data, "hidden": 4})


def test_unknown_architecture_names_it_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'gru'.*lstm, lstm_attention, lstm_cross_attention"):
        build_model(_spec("gru"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"architecture": "lstm_cross_attention", "hidden_size": 9, "attention_heads": 2}, "divisible"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_invalid_specs_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(_spec(str(overrides.pop("architecture", "lstm")), **overrides))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_single_layer_dropout_does_not_reach_the_lstm(architecture: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about dropout on a one-layer LSTM
        model = build_model(_spec(architecture, num_layers=1, dropout=0.3))
    lstm = next(m for m in model.modules() if isinstance(m, torch.nn.LSTM))
    assert lstm.dropout == 0.0


# Expected on torch 2.13 for nn.LSTM (pytorch/pytorch#163809 turned this check into a warning).
@pytest.mark.filterwarnings("ignore:The tensor attributes self.lstm._flat_weights")
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_torch_export_matches_eager(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_model(_spec(architecture)).eval()
    example = torch.randn(2, SEQ, STOCKS, FEATURES)
    other = torch.randn(7, SEQ, STOCKS, FEATURES)
    with torch.no_grad():
        expected, expected_other = model(example), model(other)
        static = torch.export.export(model, (example,)).module()
        torch.testing.assert_close(static(example), expected)
        # What mlflow's pt2 flavour does for a -1 batch dimension in the signature.
        dynamic = torch.export.export(
            model, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},)
        ).module()
        torch.testing.assert_close(dynamic(other), expected_other)
        torch.testing.assert_close(dynamic(example[:1]), expected[:1])
        torch.testing.assert_close(model(example), expected)  # exporting left the eager model intact
