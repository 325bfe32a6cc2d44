# One-command set-up and runs. `make report` is the main job, `make test` runs the test suite.
# Both create .venv, pip-install the package with its test extras, and install Debian's
# dataset-fashion-mnist (apt, as root or with sudo) when the data is not found.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup data test report bench seeds clean

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $@

# The data: HW5_DATA_DIR, Debian's package, or Keras' cache; install the package if none has it.
data:
	@if [ -n "$$HW5_DATA_DIR" ] || [ -f $(DATA_DIR)/t10k-labels-idx1-ubyte.gz ] || \
	    [ -f "$${KERAS_HOME:-$$HOME/.keras}/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz" ]; then \
	  echo "Fashion-MNIST: found"; \
	else \
	  echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
	  $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist; \
	fi

test: setup
	$(PY) -m pytest

report: setup
	$(PY) -m pytest

seeds: setup
	$(PY) -m pytest -m slow -k any_seed -rP

clean:
	rm -rf report bench .benchmarks .pytest_cache .hypothesis
