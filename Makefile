# The two commands: `make serve` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
SW_VENV := .venv-signalwire
BIN := $(VENV)/bin
SYSTEM_PACKAGES := sip-tester baresip kamailio tshark espeak-ng sox openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The pure and unit tests: no sockets, no processes, seconds.
UNIT_TESTS := tests/core tests/telephony/sip tests/telephony/rtp tests/telephony/media \
	tests/telephony/test_routing.py tests/test_layering.py tests/dialects/test_params.py \
	tests/dialects/twilio/test_commands.py tests/dialects/twilio/test_twiml.py \
	tests/dialects/twilio/test_addresses.py tests/webhooks/test_retry.py tests/webhooks/test_overrides.py \
	tests/test_architecture.py tests/test_locks.py tests/test_import_cycles.py \
	tests/engine/verbs tests/engine/test_session.py tests/engine/test_worker.py tests/engine/test_quality.py

.PHONY: serve test install install-test system-deps lint typecheck unit cov bench lock diagrams clean

serve: $(VENV)/.installed
	$(BIN)/callgate serve

test: system-deps $(VENV)/.installed-test $(SW_VENV)/.installed
	$(BIN)/python scripts/run_tests.py

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Every machine installs the same versions: the locks pin the whole set (`make lock` writes them anew
# from pyproject.toml); Callgate itself is installed over them without resolving anything.
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml requirements-test.lock $(VENV)/.installed
	$(BIN)/python -m pip install -q -r requirements-test.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

lock: $(VENV)/.installed
	$(BIN)/python -m pip install -q pip-tools
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links --extra test \
		-o requirements-test.lock pyproject.toml
	$(BIN)/pip-compile -q --no-emit-index-url --no-emit-find-links -o requirements-signalwire.lock \
		requirements-signalwire.txt

# signalwire 2.1.1 pins twilio 6.54.0, so its SDK lives in a virtual environment of its own.
$(SW_VENV)/.installed: requirements-signalwire.lock
	@test -x $(SW_VENV)/bin/python || $(PYTHON) -m venv $(SW_VENV)
	$(SW_VENV)/bin/python -m pip install -q --upgrade pip
	$(SW_VENV)/bin/python -m pip install -q -r requirements-signalwire.lock
	@touch $@

system-deps:
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then :; else \
		echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests tests_signalwire bench scripts
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(UNIT_TESTS)

# Coverage of the main suite (the SignalWire SDK suite runs in its own environment, outside it).
cov: system-deps $(VENV)/.installed-test
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider tests
	$(BIN)/coverage report --skip-covered

bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk)
	$(BIN)/python bench/api_create.py

# ARCHITECTURE.md's state diagrams, written anew from the code's transition tables
# (tests/test_architecture.py fails while they are stale); the tables of this checkout's src/.
diagrams: $(VENV)/.installed
	PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python scripts/state_diagrams.py

clean:
	rm -rf $(VENV) $(SW_VENV) .pytest_cache .mypy_cache .ruff_cache test-results
