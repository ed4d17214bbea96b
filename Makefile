# notiflow: `make demo` runs the platform locally, `make test` runs the test suite.
# Three pinned environments (their protobuf pins cannot meet): orchestration (Airflow,
# Cosmos, GX), dbt, and tfx. Each is rebuilt only when its lock file changes.

PYTHON ?= python3.11
VENVS := .venvs
ORCH := $(VENVS)/orchestration
DBT := $(VENVS)/dbt
TFX := $(VENVS)/tfx
PYTEST_ARGS ?=
PIP_FLAGS := --quiet --disable-pip-version-check
export DO_NOT_TRACK := 1
export SCARF_NO_ANALYTICS := true
export GX_ANALYTICS_ENABLED := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export TF_USE_LEGACY_KERAS := 1

.PHONY: setup test test-orchestration test-tfx demo demo-stop lint clean

setup: $(ORCH)/.installed $(DBT)/.installed $(TFX)/.installed

# The notiflow distribution (pyproject.toml: the core `notiflow`, the Airflow glue
# `notiflow_airflow`, `expectations`, `tfx_pipelines`) is installed editable, without
# dependencies, into each. Code is found through the install, never through PYTHONPATH.
# The notiflow.egg-info setuptools leaves in the repository is removed: were the
# repository on sys.path, it would make a second `notiflow` distribution.
$(ORCH)/.installed: requirements.txt pyproject.toml
	rm -rf $(ORCH) && $(PYTHON) -m venv $(ORCH)
	$(ORCH)/bin/pip install $(PIP_FLAGS) -r requirements.txt
	$(ORCH)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	rm -rf notiflow.egg-info
	$(ORCH)/bin/pip check
	touch $@

$(DBT)/.installed: dbt_project/requirements.txt pyproject.toml
	rm -rf $(DBT) && $(PYTHON) -m venv $(DBT)
	$(DBT)/bin/pip install $(PIP_FLAGS) -r dbt_project/requirements.txt
	$(DBT)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	rm -rf notiflow.egg-info
	$(DBT)/bin/pip check
	touch $@

# TFX 1.16 declares python<3.11; its pinned closure is installed as is.
$(TFX)/.installed: tfx_pipelines/requirements.txt pyproject.toml
	rm -rf $(TFX) && $(PYTHON) -m venv $(TFX)
	$(TFX)/bin/pip install $(PIP_FLAGS) --no-deps --ignore-requires-python -r tfx_pipelines/requirements.txt
	$(TFX)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	rm -rf notiflow.egg-info
	$(TFX)/bin/pip check
	touch $@

# pytest exits 5 when a marker selects nothing in one environment; that is not a failure.
# Each run ends with its 30 slowest tests: where CI's minutes go (`.ci/run` must stay < 60).
test: setup
	@status=0; \
	$(ORCH)/bin/python -m pytest tests --ignore=tests/tfx --durations=30 $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	$(TFX)/bin/python -m pytest tests/tfx --durations=30 $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	exit $$status

demo: setup
	$(ORCH)/bin/notiflow demo

demo-stop:
	$(ORCH)/bin/notiflow airflow stop

lint: setup
	$(ORCH)/bin/ruff check notiflow notiflow_airflow expectations dags tests tfx_pipelines bench
	$(ORCH)/bin/ruff format --check notiflow notiflow_airflow expectations dags tests tfx_pipelines bench

clean: demo-stop
	rm -rf .notiflow
