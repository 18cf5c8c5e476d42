# Two entry points (see README): `make demo` exports the embedded default model to every format,
# `make test` runs lint and the whole test suite. Both create .venv/ and install pinned dependencies.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch lies in /opt/wheels on these machines; pip finds it there instead of a CUDA build.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)

.PHONY: install demo test lint android-apk bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(FIND_LINKS) -c requirements.lock -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shufflenet-export --output artifacts/default

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	bash android_demo/scripts/setup_toolchain.sh
	$(BIN)/pytest

android-apk: $(STAMP)
	bash android_demo/build_offline.sh

clean:
	rm -rf $(VENV) artifacts results android_demo/.build
