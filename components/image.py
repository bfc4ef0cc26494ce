"""The container image every KFP component runs in (single source of truth for its name and tag)."""

PROJECT_IMAGE = "ghcr.io/stockpredictor/stockpredictor:0.1.0"
