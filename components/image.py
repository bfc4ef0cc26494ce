"""The container image every KFP component runs in (single source of truth for its name and tag).

`RELEASE_IMAGE` is the tag the committed pipelines/*.yaml name. CI and `make deliver` compile and
upload against the image they built for a commit by setting `STOCKPREDICTOR_IMAGE`, and name the
Secret that lets the nodes pull it from a private registry with `STOCKPREDICTOR_IMAGE_PULL_SECRET`
(both read once, when this module is imported, i.e. before the components are defined).
"""

import os

RELEASE_IMAGE = "ghcr.io/stockpredictor/stockpredictor:0.1.0"
IMAGE_ENV = "STOCKPREDICTOR_IMAGE"
PROJECT_IMAGE = os.environ.get(IMAGE_ENV) or RELEASE_IMAGE
PULL_SECRET_ENV = "STOCKPREDICTOR_IMAGE_PULL_SECRET"
#: A `kubernetes.io/dockerconfigjson` Secret in KFP's namespace that every step pod pulls with; empty: none.
IMAGE_PULL_SECRET = os.environ.get(PULL_SECRET_ENV, "").strip()
