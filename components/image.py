"""The container image every KFP component runs in (single source of truth for its name and tag).

`RELEASE_IMAGE` is the tag the committed pipelines/*.yaml name. CI compiles and uploads against the
image it built for a commit by setting `STOCKPREDICTOR_IMAGE` (read once, when this module is
imported, i.e. before the components are defined).
"""

import os

RELEASE_IMAGE = "ghcr.io/stockpredictor/stockpredictor:0.1.0"
IMAGE_ENV = "STOCKPREDICTOR_IMAGE"
PROJECT_IMAGE = os.environ.get(IMAGE_ENV) or RELEASE_IMAGE
