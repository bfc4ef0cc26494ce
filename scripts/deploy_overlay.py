"""Write the kustomization `make deploy` applies: an overlay (default manifests/overlays/kind) with the
API and MLflow images of one commit, and optionally the Secret their pods pull those images with.

The overlay itself keeps the release tags, so `kubectl apply -k manifests/overlays/kind` still works
by hand; `make deploy` applies `<overlay>-deploy/` (a sibling, git-ignored), written here, which names
the commit.

Usage: python scripts/deploy_overlay.py OVERLAY --image REF --mlflow-image REF [--pull-secret NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

#: The image names the base manifests use; the overlay's `images:` maps them to registry references.
IMAGE_NAMES = {"image": "stockpredictor", "mlflow_image": "stockpredictor-mlflow"}
#: Our Deployments (API, MLflow) carry this label; PostgreSQL's public image needs no pull Secret.
DEPLOYMENTS = "app.kubernetes.io/part-of=stockpredictor"


def image_entry(name: str, reference: str) -> dict[str, str]:
    """A kustomize `images:` entry mapping `name` to `reference` (registry/repository:tag)."""
    repository, separator, tag = reference.rpartition(":")
    if not separator or "/" in tag or not repository:
        raise SystemExit(f"image reference {reference!r} has no tag (expected registry/repository:tag)")
    return {"name": name, "newName": repository, "newTag": tag}


def rendered_names(overlay: Path) -> dict[str, str]:
    """The name each base image has once `overlay`'s own `images:` applied (what to match one level up)."""
    entries = yaml.safe_load((overlay / "kustomization.yaml").read_text()).get("images", [])
    renamed = {entry["name"]: entry.get("newName", entry["name"]) for entry in entries}
    return {key: renamed.get(name, name) for key, name in IMAGE_NAMES.items()}


def kustomization(overlay: Path, image: str, mlflow_image: str, pull_secret: str = "") -> dict[str, object]:
    """The deploy kustomization: the sibling `overlay`, the commit's images, the optional pull Secret."""
    names = rendered_names(overlay)
    document: dict[str, object] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"../{overlay.name}"],
        "images": [image_entry(names["image"], image), image_entry(names["mlflow_image"], mlflow_image)],
    }
    if pull_secret:
        patch = [
            {"op": "add", "path": "/spec/template/spec/imagePullSecrets", "value": [{"name": pull_secret}]}
        ]
        document["patches"] = [
            {"target": {"kind": "Deployment", "labelSelector": DEPLOYMENTS}, "patch": json.dumps(patch)}
        ]
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overlay", type=Path)
    parser.add_argument("--image", required=True, help="The project image (API) of the commit.")
    parser.add_argument("--mlflow-image", required=True, help="The MLflow server image of the commit.")
    parser.add_argument("--pull-secret", default="", help="A docker-registry Secret the pods pull with.")
    args = parser.parse_args(argv)
    overlay = args.overlay.resolve()
    target = overlay.parent / f"{overlay.name}-deploy"
    target.mkdir(exist_ok=True)
    document = kustomization(overlay, args.image, args.mlflow_image, args.pull_secret.strip())
    (target / "kustomization.yaml").write_text(
        "# Written by scripts/deploy_overlay.py for `make deploy`; do not commit.\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
