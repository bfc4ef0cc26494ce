"""Model architectures: each maps x (batch, seq_len, stocks, features) to (batch, stocks).

All forward passes are free of data-dependent control flow so that `torch.export` (MLflow's
pickle-free ``pt2`` format) can trace them, with a static or a dynamic batch dimension.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

ARCHITECTURES: tuple[str, ...] = ("lstm", "lstm_attention", "lstm_cross_attention")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model (its weights aside); JSON-safe via `to_dict`."""

    architecture: str
    n_stocks: int
    n_features: int
    hidden_size: int
    num_layers: int
    dropout: float
    attention_heads: int = 1

    def to_dict(self) -> dict[str, str | int | float]:
        """Plain JSON-safe dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Inverse of `to_dict`; unknown keys are an error, numbers are coerced to their field type."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown ModelSpec keys: {sorted(unknown)}")
        return cls(
            architecture=str(data["architecture"]),
            n_stocks=int(data["n_stocks"]),
            n_features=int(data["n_features"]),
            hidden_size=int(data["hidden_size"]),
            num_layers=int(data["num_layers"]),
            dropout=float(data["dropout"]),
            attention_heads=int(data.get("attention_heads", 1)),
        )


def model_spec(hyperparameters: Mapping[str, Any], n_stocks: int, n_features: int) -> ModelSpec:
    """The model hyperparameters (architecture, sizes, dropout) describe, for `n_stocks` x `n_features`."""
    return ModelSpec(
        architecture=str(hyperparameters["architecture"]),
        n_stocks=n_stocks,
        n_features=n_features,
        hidden_size=int(hyperparameters["hidden_size"]),
        num_layers=int(hyperparameters["num_layers"]),
        dropout=float(hyperparameters["dropout"]),
    )


def _lstm(input_size: int, spec: ModelSpec) -> nn.LSTM:
    # Inter-layer dropout only exists between stacked layers (torch warns otherwise).
    return nn.LSTM(
        input_size=input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        dropout=spec.dropout if spec.num_layers > 1 else 0.0,
        batch_first=True,
    )


class MultiStockLSTM(nn.Module):
    """One input vector per time step (all stocks × features); the last hidden state predicts every stock."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.lstm = _lstm(spec.n_stocks * spec.n_features, spec)
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_size, spec.n_stocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.flatten(2))  # (B, L, H)
        return self.head(self.dropout(out[:, -1]))


class AdditiveAttention(nn.Module):
    """Bahdanau attention over time, queried by the last hidden state: returns (B, H) and weights (B, L)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.keys = nn.Linear(hidden_size, hidden_size, bias=False)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        energy = torch.tanh(self.keys(states) + self.query(states[:, -1:]))  # (B, L, H)
        weights = torch.softmax(self.score(energy).squeeze(-1), dim=1)  # (B, L)
        context = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, H)
        return context, weights


class AttentionLSTM(nn.Module):
    """Multi-stock LSTM whose head sees the attention context over all time steps next to the last state."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.lstm = _lstm(spec.n_stocks * spec.n_features, spec)
        self.attention = AdditiveAttention(spec.hidden_size)
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(2 * spec.hidden_size, spec.n_stocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.flatten(2))
        context, _ = self.attention(out)
        return self.head(self.dropout(torch.cat([context, out[:, -1]], dim=1)))


class CrossStockAttentionLSTM(nn.Module):
    """A shared LSTM encodes each stock's own sequence; self-attention mixes the stocks' final states.

    A learned per-stock embedding tells the attention which stock is which, and each stock has its
    own linear head, so the model is not forced to treat stocks as interchangeable.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.n_stocks = spec.n_stocks
        self.lstm = _lstm(spec.n_features, spec)
        self.stock_embedding = nn.Parameter(torch.zeros(spec.n_stocks, spec.hidden_size))
        self.attention = nn.MultiheadAttention(
            spec.hidden_size, spec.attention_heads, dropout=spec.dropout, batch_first=True
        )
        self.norm = nn.LayerNorm(spec.hidden_size)
        self.dropout = nn.Dropout(spec.dropout)
        self.head_weight = nn.Parameter(torch.empty(spec.n_stocks, spec.hidden_size))
        self.head_bias = nn.Parameter(torch.zeros(spec.n_stocks))
        nn.init.normal_(self.stock_embedding, std=0.02)
        nn.init.uniform_(self.head_weight, -(spec.hidden_size**-0.5), spec.hidden_size**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, n_stocks, n_features = x.shape
        per_stock = x.permute(0, 2, 1, 3).reshape(batch * n_stocks, seq_len, n_features)
        out, _ = self.lstm(per_stock)
        states = out[:, -1].reshape(batch, self.n_stocks, -1) + self.stock_embedding  # (B, S, H)
        mixed, _ = self.attention(states, states, states, need_weights=False)
        states = self.norm(states + self.dropout(mixed))
        return (self.dropout(states) * self.head_weight).sum(-1) + self.head_bias


_BUILDERS: dict[str, type[nn.Module]] = {
    "lstm": MultiStockLSTM,
    "lstm_attention": AttentionLSTM,
    "lstm_cross_attention": CrossStockAttentionLSTM,
}


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model for `spec` (seed torch beforehand for reproducible weights)."""
    if spec.architecture not in _BUILDERS:
        raise ValueError(
            f"unknown architecture {spec.architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    for name in ("n_stocks", "n_features", "hidden_size", "num_layers", "attention_heads"):
        if getattr(spec, name) < 1:
            raise ValueError(f"ModelSpec.{name} must be >= 1, got {getattr(spec, name)}")
    if not 0.0 <= spec.dropout < 1.0:
        raise ValueError(f"ModelSpec.dropout must be in [0, 1), got {spec.dropout}")
    if spec.architecture == "lstm_cross_attention" and spec.hidden_size % spec.attention_heads:
        raise ValueError(
            f"hidden_size ({spec.hidden_size}) must be divisible by attention_heads ({spec.attention_heads})"
        )
    return _BUILDERS[spec.architecture](spec)
