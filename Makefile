# Scoutly scrape operator. `make help` lists the targets. Target names follow kubebuilder's.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
IMG ?= scoutly-operator:dev
LOCAL_IMG ?= localhost/scoutly-operator:dev
KIND_CLUSTER ?= scoutly
NAMESPACE ?= scoutly-system
DEV_DIR ?= $(HOME)/.cache/scoutly/dev
PYTEST_ARGS ?=
BENCH_ARGS ?= # e.g. "--targets 2000 --minutes 2" for a shorter `make bench`; see bench/scale_bench.py --help

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

# `make image` where a real node can run (Linux, root, Debian packages); elsewhere say why and go on
IMAGE_IF_NODE = if gap=$$(bash hack/node-deps.sh --check 2>&1); then $(MAKE) --no-print-directory image; \
	  else echo "make: no real node here ($$gap): pods will be simulated by kwok"; fi

##@ Development
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python >= 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with the package and dev tools.

.PHONY: testenv
testenv: ## Build or find the control plane, FerretDB, kwok, helm, Prometheus and real-node binaries (cached in ~/.cache/scoutly).
	bash hack/testenv.sh
	bash hack/testenv-prometheus.sh

.PHONY: node-deps
node-deps: ## Install the Debian packages the real node and `make image` need (root; apt-get), or say what is missing.
	bash hack/node-deps.sh

.PHONY: image
image: ## Build the Dockerfile without Docker (buildah on a local Debian base) into an archive the real node imports.
	IMG=$(LOCAL_IMG) bash hack/image.sh

.PHONY: lint
lint: venv ## Run ruff, mypy and the import layering contracts (import-linter).
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: fmt
fmt: venv ## Format and auto-fix with ruff.
	$(VENV)/bin/ruff format operator tests bench
	$(VENV)/bin/ruff check --fix operator tests bench

.PHONY: test
test: venv testenv ## Lint, then run every test (unit, integration, e2e on a real node) against a real local control plane.
	$(MAKE) --no-print-directory lint
	@# the e2e suite runs the image on a real node; where none can run it says why and is skipped
	$(IMAGE_IF_NODE)
	PYTEST=$(VENV)/bin/pytest bash hack/test.sh $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: venv ## Run the unit tests only (no binaries needed).
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

.PHONY: cluster-up
cluster-up: venv testenv ## Start the local control plane + FerretDB in the background; prints how to use it.
	$(VENV)/bin/scoutly dev up --dir $(DEV_DIR)

.PHONY: cluster-up-real
cluster-up-real: venv testenv image ## cluster-up plus a real node (containerd + kubelet, Linux root) running the local image.
	$(VENV)/bin/scoutly dev up --dir $(DEV_DIR) --real-node

.PHONY: cluster-down
cluster-down: venv ## Stop the environment started by cluster-up.
	$(VENV)/bin/scoutly dev down --dir $(DEV_DIR)

.PHONY: demo
demo: venv testenv ## The main job: local control plane, operator, sample targets scraped by real pods (kwok where no real node can run).
	$(IMAGE_IF_NODE)
	$(VENV)/bin/scoutly dev demo --dir $(DEV_DIR)

.PHONY: manifests
manifests: venv ## Generate the CRD (manifests/ and the chart) from the models, and manifests/install/ from the chart.
	$(VENV)/bin/scoutly crd > manifests/crd/scoutly.io_scrapetargets.yaml
	$(VENV)/bin/scoutly crd --chart > charts/scoutly-operator/templates/crd.yaml
	$(MAKE) --no-print-directory manifests-install

.PHONY: docs
docs: venv ## Regenerate docs/configuration.md from the settings models.
	$(PY) -c "from scoutly.settings_doc import render; open('docs/configuration.md', 'w').write(render())"

.PHONY: dashboard-png
dashboard-png: venv testenv ## Redraw docs/dashboard.png: the dashboard's queries on a real Prometheus scraping a live operator.
	SCOUTLY_DASHBOARD_PNG=$(CURDIR)/docs/dashboard.png $(VENV)/bin/pytest tests/integration/observability/test_prometheus.py $(PYTEST_ARGS)

.PHONY: run
run: venv ## Run the operator against the current kubeconfig (settings: SCOUTLY_* env, docs/configuration.md).
	$(VENV)/bin/scoutly operator run

.PHONY: install
install: venv ## Install the CRD into the current cluster.
	kubectl apply --server-side -f manifests/crd/

.PHONY: uninstall
uninstall: ## Remove the CRD (and every ScrapeTarget) from the current cluster.
	kubectl delete --ignore-not-found -f manifests/crd/

##@ Deployment
# Rendered with the testenv's helm (make testenv). The docker/kind/deploy targets need Docker, kind and a
# real cluster: they are not exercised on the CI machine (no container engine there). docs/install.md.
HELM ?= $(shell bash hack/testenv.sh --print-dir)/helm
KUBE_VERSION ?= 1.36.3
CHART := charts/scoutly-operator
RELEASE ?= scoutly
CONTAINER_TOOL ?= docker
KIND ?= kind
KUBECTL ?= kubectl
INSTALL_DIR ?= manifests/install

.PHONY: manifests-install
manifests-install: ## Render manifests/install/ (plain-YAML install) from the chart's defaults, without the dashboard.
	@test -x "$(HELM)" || { echo "make: helm not found at $(HELM); run make testenv or set HELM="; exit 1; }
	mkdir -p $(INSTALL_DIR)
	{ echo "# Generated from $(CHART) by \`make manifests\`: do not edit."; \
	  $(HELM) template $(RELEASE) $(CHART) --namespace $(NAMESPACE) --kube-version $(KUBE_VERSION) --skip-tests \
	    --show-only templates/crd.yaml; } > $(INSTALL_DIR)/crd.yaml
	{ echo "# Generated from $(CHART) by \`make manifests\`: do not edit."; \
	  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: $(NAMESPACE)\n'; \
	  $(HELM) template $(RELEASE) $(CHART) --namespace $(NAMESPACE) --kube-version $(KUBE_VERSION) --skip-tests \
	    --set crds.enabled=false --set grafanaDashboard.enabled=false; } > $(INSTALL_DIR)/scoutly-operator.yaml

.PHONY: helm-lint
helm-lint: ## helm lint the chart with its defaults and every ci/*-values.yaml.
	for f in $(CHART)/ci/*-values.yaml; do $(HELM) lint --strict $(CHART) -f $$f; done

.PHONY: docker-build
docker-build: ## Build the image $(IMG) (needs Docker; untested here).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image $(IMG) (untested here).
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: kind-up
kind-up: ## Create the kind cluster $(KIND_CLUSTER) (needs kind + Docker; untested here).
	$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER)

.PHONY: kind-down
kind-down: ## Delete the kind cluster $(KIND_CLUSTER) (untested here).
	$(KIND) delete cluster --name $(KIND_CLUSTER)

.PHONY: kind-load
kind-load: ## Load $(IMG) into the kind cluster (untested here).
	$(KIND) load docker-image $(IMG) --name $(KIND_CLUSTER)

.PHONY: deploy
deploy: ## kubectl apply manifests/install/ (image $(IMG)) to the current cluster (untested here).
	$(KUBECTL) apply --server-side -f manifests/install/crd.yaml
	sed 's|image: "ghcr.io/scoutly/scoutly-operator:[^"]*"|image: "$(IMG)"|; s|value: "ghcr.io/scoutly/scoutly-operator:[^"]*"|value: "$(IMG)"|' \
	  manifests/install/scoutly-operator.yaml | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Delete what deploy created, keeping the CRD and the ScrapeTargets (untested here).
	$(KUBECTL) delete --ignore-not-found -f manifests/install/scoutly-operator.yaml

.PHONY: helm-install
helm-install: ## helm upgrade --install the chart into $(NAMESPACE) with image $(IMG) (untested here).
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  --set image.repository=$(firstword $(subst :, ,$(IMG))) --set image.tag=$(lastword $(subst :, ,$(IMG)))

.PHONY: helm-uninstall
helm-uninstall: ## helm uninstall the release (the CRD and ScrapeTargets stay: crds.keep).
	$(HELM) uninstall $(RELEASE) --namespace $(NAMESPACE)

##@ Benchmarks
.PHONY: bench-scrape
bench-scrape: venv testenv ## Scrape workload benchmark: 2,000 generated postings, 5 candidates, FerretDB, local LLM server.
	$(PY) bench/scrape_bench.py --postings 2000

.PHONY: bench-jobqueues
bench-jobqueues: venv testenv ## jobqueues writes on FerretDB as the collection grows (now, the previous design, plain inserts) and the companies read (~5 min).
	$(PY) bench/jobqueues_bench.py --jobs 2000 --batch 500 --companies 10000

.PHONY: bench-job-shape
bench-job-shape: venv testenv ## The Job controller's writes per Job for a CronJob's Job body and for ours, one property at a time (~6 min).
	$(PY) bench/job_shape.py 200

.PHONY: bench
bench: venv testenv ## Scale benchmark: 10,000 ScrapeTargets: memory, idle API load, dispatch, CronJob side by side x3, 10,000 foreign Jobs (~80 min).
	$(PY) bench/scale_bench.py $(BENCH_ARGS)
