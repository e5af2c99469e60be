# Two entry points for a fresh machine (see README.md):
#   make conformance   the conformance suite against the reference EPP on a local control plane
#   make test          the project's own tests (unit, fakes, control plane, suite self-tests)
# Both first install what they need, cached under $(EPPCONF_CACHE): a virtualenv with pinned
# packages and the Go-built control-plane binaries; `make test` also builds the upstream peers its
# tests run (GIE's EPPs v1.5.0 epp and v1.6.0 lwepp, llm-d-inference-sim), starts Docker Engine
# and builds the project's container images and the kind node image.

PYTHON ?= python3
VENV ?= .venv
EPPCONF_CACHE ?= $(HOME)/.cache/eppconf
export EPPCONF_CACHE

BIN := $(VENV)/bin
REPORT ?= reports/conformance-report.yaml

.PHONY: conformance test setup control-plane binaries lint benchmarks clean

conformance: $(VENV)/.installed control-plane
	$(BIN)/pytest conformance --report-output $(REPORT)

# Two workers: most slow tests wait on EPPs and control planes rather than compute.
# scripts/with-images.sh starts Docker Engine for the run (and stops it after, if it started it)
# and builds the images the --epp-image tests run and, in the background, the kind node image;
# scripts/run-tests.sh runs the kind tests after the others (and fails a run that collects nothing).
test: setup lint
	bash scripts/with-images.sh bash scripts/run-tests.sh $(BIN)/pytest

setup: $(VENV)/.installed binaries

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

control-plane:
	bash scripts/build-control-plane.sh >/dev/null

binaries: control-plane
	bash scripts/build-gie-epp.sh >/dev/null
	bash scripts/build-gie-epp.sh v1.6.0 lwepp >/dev/null
	bash scripts/build-inference-sim.sh >/dev/null

lint: $(VENV)/.installed
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

benchmarks: setup
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) reports .pytest_cache
