# The two commands a newcomer needs: `make run` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Fonts for the PDF fixtures; Chromium for the browser tests (Playwright drives it, downloads no browser);
# LibreOffice converts .doc/.wps files (and builds the .doc fixture). `make run` works without it: a .doc then
# fails with a message saying to install libreoffice-writer-nogui.
TEST_DEBS := fonts-droid-fallback fonts-dejavu-core chromium libreoffice-writer-nogui

.PHONY: install dev-install index run test test-fast lint screenshot bench eval clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

dev-install: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed
	@for deb in $(TEST_DEBS); do dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	# torch is pinned to the CPU build on these machines; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,st,eval]"
	touch $@

index: install
	$(BIN)/policy-qa ingest

# The index is brought in step with corpus/ first: unchanged documents are reused (about a second here), new and
# changed ones indexed, and an index written by an older version gains what it lacks. When that fails, the
# app serves the last good index (ingest has said why); with no index at all, `make run` stops.
HAS_INDEX := $(BIN)/python -c "import sys; from assistant.settings import Settings; from assistant.index.store import manifest_path; sys.exit(not manifest_path(Settings()).is_file())"

run: install
	$(BIN)/policy-qa ingest || $(HAS_INDEX)
	$(BIN)/python app.py

# The whole suite: lint and format check, then every test (full-corpus index, app server, browser included).
test: dev-install lint
	$(BIN)/python -m pytest

# The fast tier: everything but the tests marked slow (full-corpus index, a server or a browser), in about a minute.
test-fast: dev-install lint
	$(BIN)/python -m pytest -m "not slow"

lint: dev-install
	$(BIN)/ruff check assistant tests benchmarks app.py
	$(BIN)/ruff format --check assistant tests benchmarks app.py

# Refreshes the README's picture of the chat (tests otherwise write their screenshots to a temporary folder).
screenshot: dev-install
	SCREENSHOT_DIR=docs $(BIN)/python -m pytest tests/test_e2e.py -k test_ask_read_sources_and_review

eval: install
	$(BIN)/python -m pip install -q -e ".[eval]"
	$(BIN)/policy-qa ingest
	$(BIN)/policy-qa eval --compare

bench: install
	$(BIN)/python -m pip install -q -e ".[eval]"
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/ingest_and_search.py

clean:
	rm -rf $(VENV) index .pytest_cache
