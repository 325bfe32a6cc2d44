# One-command set-up and runs. `make report` is the main job, `make test` runs the test suite,
# `make handin USERS="name1 name2"` writes the zip to hand in.
# Both create .venv, pip-install the package with its test extras, and install Debian's
# dataset-fashion-mnist (apt, as root or with sudo) when the data is not found.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system test test-full test-heavy report handin bench seeds search flakes mutants architectures clean

setup: $(VENV)/.installed system

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $@

# System packages, each only when missing: the data (unless HW5_DATA_DIR or Keras' cache has it),
# Chromium and poppler-utils for the PDF report and its tests. Without apt, say what is missing and go on:
# the data can still come through Keras' downloader, and the report falls back to HTML.
system:
	@missing=""; \
	if [ -z "$$HW5_DATA_DIR" ] && [ ! -f $(DATA_DIR)/t10k-labels-idx1-ubyte.gz ] && \
	   [ ! -f "$${KERAS_HOME:-$$HOME/.keras}/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz" ]; then \
	  missing="$$missing dataset-fashion-mnist"; fi; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	if [ -z "$$missing" ]; then echo "system packages: all present"; \
	elif command -v apt-get >/dev/null; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else echo "no apt-get: install$$missing yourself (or set HW5_DATA_DIR for the data)"; fi

# The quick tier (~2 min warm): ruff first (a lint error stops the run before the suite's minutes), then the
# suite without its `full` checks, 25 examples a hypothesis property (HYPOTHESIS_PROFILE=dev unless set)
test: setup
	$(VENV)/bin/ruff check .
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-dev} $(PY) -m pytest

# The rest of the default suite's evidence (CI runs it after `make test`; `make report` runs both tiers): the
# `full` checks (all 10,000 test images through the NumPy networks, the training machinery's own trainings) and
# every hypothesis property again at the ci profile's 200 derandomized examples
test-full: setup
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -m "(full or property) and not slow and not heavy and not architectures"

# the heavy tier (~3 min): Part 2 through onnxruntime on all 10,000 test images, Part 1's Dense+ReLU form
# (a 1.4 GB ONNX file) on 1,000, Marabou's evaluations and robustness queries, the Dense+ReLU exports loaded by
# gurobi-machinelearning and OMLT (the `milp` extra, installed here only: CI runs it after `make test`)
test-heavy: setup $(VENV)/.milp-installed
	$(PY) -m pytest -m heavy

$(VENV)/.milp-installed: $(VENV)/.installed
	$(PY) -m pip install -e '.[milp]'
	touch $@

report: setup
	$(VENV)/bin/hw5 report $(foreach user,$(USERS),--user '$(user)')

# The hand-in: handin/homework5_<names>.zip with the report's PDF and the generated one-file script.
# Reuses report/ when it is up to date and names the same users; otherwise runs the report first.
handin: setup
	@[ -n "$(strip $(USERS))" ] || { echo 'usage: make handin USERS="name1 [name2 [name3]]"'; exit 2; }
	$(VENV)/bin/hw5 handin $(foreach user,$(USERS),--user '$(user)')

bench: setup
	mkdir -p bench
	$(PY) -m pytest tests/test_bench.py --bench --benchmark-json=bench/benchmarks.json
	$(PY) -m hw5.deliver.architectures --out bench/architectures.json

# the opt-in tier: seven keras.applications models and MobileNetV2 at 224×224 as sparse fully-connected networks,
# equal to Keras, and the onnx wheel's model-zoo CNNs at 224² from their ONNX files, equal to onnxruntime or
# refused for memory (~15–20 min on 2 cores); writes bench/architectures.json and bench/onnx_zoo.json (the
# report's architectures tables)
architectures: setup
	$(PY) -m pytest -m architectures tests/test_architectures.py

seeds: setup
	$(PY) -m pytest -m slow -k any_seed -rP

# Part 1's model and schedule search by time to 90 % test accuracy (~1 h on 2 cores; `--only NAME...` for a few):
# tools/search_part1_results.md
search: setup
	$(PY) tools/search_part1.py

# every hypothesis property under 20 random seeds, no example database (~3 min); flakes/summary.txt
flakes: setup
	$(PY) tools/flakes.py --runs 20

# mutation testing of the conversion core with mutmut (pinned in the `mutation` extra; MODULES="a.py b.py" for
# only those files of only_mutate; README "How we know the
# tests are strong"): score and survivors in mutation/summary.txt
mutants: setup
	$(VENV)/bin/mutmut --version 2>/dev/null | grep -q 3.8.1 || $(PY) -m pip install -e '.[mutation]'
	$(PY) tools/mutants.py $(if $(MODULES),--modules $(MODULES))

clean:
	rm -rf flakes report bench .benchmarks .pytest_cache .hypothesis
