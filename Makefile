# The two commands: `make run` and `make test`. Everything else they need, they set up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench bench-cross-set clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed $@

config.toml:
	cp config.example.toml config.toml

## Run the bot on the embedded default: SQLite, and the terminal channel when no chat token is configured.
run: $(VENV)/.installed config.toml
	$(BIN)/feedbackbot db upgrade
	$(BIN)/feedbackbot run

## Lint, type-check and run every test against SQLite and a throwaway PostgreSQL server, with a coverage floor.
# The dashboard's browser tests drive Debian's chromium, which scripts/with-chromium installs where it is missing.
# Coverage counts the test processes only, not the `feedbackbot` processes some tests start (coverage's
# `[tool.coverage.run] patch = ["subprocess"]` would add them, and seconds). The suite reaches 95%; the floor is 92.
# The tests run in parallel, two pytest-xdist workers per core (TEST_WORKERS=0: all in one process): many tests
# spend their time waiting for a bot process, a retry or a timeout, so one worker per core leaves the cores half
# idle. pytest-cov combines the workers' coverage before the floor is checked. Worksteal hands a worker that ran out
# of tests some of another's, so the few slow tests do not leave a core idle at the end.
COVERAGE := --cov=bot --cov=handlers --cov=storage --cov-report=term:skip-covered --cov-fail-under=92
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
# Python may cache compiled modules: every worker and every `feedbackbot` process a test starts imports the project.
test: export PYTHONDONTWRITEBYTECODE :=
test: $(VENV)/.installed-dev lint
	scripts/with-postgres scripts/with-chromium $(BIN)/pytest --numprocesses=$(TEST_WORKERS) --dist=worksteal $(COVERAGE)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Print the benchmark tables: the sentiment analyzers on the human-rated sets, the inbound path's rate, and the
## answer's hot path against a hand-written survey bot and the bare echo bot (SQLite and a throwaway PostgreSQL),
## Slack's block actions against a bare bolt app that only acknowledges and one that answers each press storing
## nothing (SQLite and PostgreSQL),
## two webhook processes on one PostgreSQL against one,
## invitations through the outbox at Telegram's limit and at the dispatcher's ceiling (PostgreSQL) beside a bare
## python-telegram-bot sender's, the report and
## export over a million answers, and the dashboard's pages with a million answers.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/inbound.py
	scripts/with-postgres $(BIN)/python bench/hotpath.py
	scripts/with-postgres $(BIN)/python bench/slack_hotpath.py
	scripts/with-postgres $(BIN)/python bench/scaleout.py
	scripts/with-postgres $(BIN)/python bench/outbox_rate.py
	$(BIN)/python bench/report_scale.py
	$(BIN)/python bench/dashboard.py

## Learned models trained on two human-rated sets and scored on the third, beside the rule-based detector.
bench-cross-set: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[research]'
	$(BIN)/python bench/cross_set_models.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage
