"""Prediction API and dashboard (FastAPI): `create_app` builds it, `stockpredictor serve` runs it."""

from stockpredictor.api.app import create_app

__all__ = ["create_app"]
