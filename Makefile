# Two entry points (see README): `make demo` exports the embedded default model to every format,
# `make test` runs lint and the whole test suite. Both create .venv/ and install pinned dependencies.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch lies in /opt/wheels on these machines; pip finds it there instead of a CUDA build.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)

.PHONY: install demo test lint android-apk bench export-bench peer-env side-by-side arm64 arm64-bench results clean

# The `npu` and `executorch` extras' files first, hash-checked (requirements-npu.lock, requirements-executorch.lock),
# then everything under requirements.lock.
$(STAMP): pyproject.toml requirements.lock requirements-npu.lock requirements-executorch.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --require-hashes --no-deps -r requirements-npu.lock
	$(BIN)/pip install -qq --require-hashes --no-deps -r requirements-executorch.lock
	$(BIN)/pip install -qq $(FIND_LINKS) -c requirements.lock -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shufflenet-export --output artifacts/default

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# After the whole suite, the tests that run TensorFlow itself once more without oneDNN: TensorFlow turns oneDNN on
# by itself only on CPUs with AVX-512 VNNI/BF16 or AMX, so this is how an AVX2 machine runs them (about a minute).
test: lint
	bash android_demo/scripts/setup_toolchain.sh
	bash scripts/setup_arm64.sh
	$(BIN)/pytest
	TF_ENABLE_ONEDNN_OPTS=0 $(BIN)/pytest -m tensorflow_graph

# Host latency of every file `make demo` wrote (JSON + Markdown in results/).
bench: $(STAMP)
	test -f artifacts/default/manifest.json || $(MAKE) demo
	$(BIN)/shufflenet-bench host --artifacts artifacts/default --json results/host/default.json

# Export every official variant to every format and time it and its files (about 30 min on 2 cores).
export-bench: $(STAMP)
	$(BIN)/python -m shufflenet.benchmarks.host_latency.export_bench --output results/export_bench --resume

# litert-torch (the peer converter) in an environment of its own that also sees .venv (its typing-extensions pin
# conflicts with requirements.lock; see requirements-peer.lock), then the side-by-side benchmark (~20 min).
peer-env: $(STAMP)
	$(PYTHON) -m venv $(VENV)-peer
	echo "import site; site.addsitedir('$(abspath $(VENV))/lib/python3.11/site-packages')" \
		> $(VENV)-peer/lib/python3.11/site-packages/_shufflenet_venv.pth
	grep -iv '^typing.extensions==' requirements.lock > $(VENV)-peer/constraints.txt
	$(VENV)-peer/bin/pip install --quiet $(FIND_LINKS) -c $(VENV)-peer/constraints.txt -r requirements-peer.lock

side-by-side: $(STAMP)
	test -x $(VENV)-peer/bin/python || $(MAKE) peer-env
	$(BIN)/python -m shufflenet.benchmarks.host_latency.side_by_side --peer-python $(VENV)-peer/bin/python \
		--output results/side_by_side

# The aarch64 emulator and userland of `--runtime litert-arm64` (pinned downloads, cached in .cache/arm64).
arm64:
	bash scripts/setup_arm64.sh

# Set-up time (cold and cached), emulated evaluation time per image and the instructions each CPU model runs.
arm64-bench: $(STAMP) arm64
	test -f artifacts/default/manifest.json || $(MAKE) demo
	$(BIN)/python -m shufflenet.benchmarks.host_latency.arm64_bench --artifacts artifacts/default --cold --kernels \
		--json results/arm64_bench.json

# Re-measure every figure of docs/results/ that depends on the embedded default (accuracy of every exported file,
# int8 drift, arm64, the app's golden test, latency) and rebuild docs/results/default_model.md; 1-3 h on 2 shared cores.
results: $(STAMP)
	bash scripts/measure_default.sh

android-apk: $(STAMP)
	bash android_demo/build_offline.sh

clean:
	rm -rf $(VENV) artifacts results android_demo/.build
