# `make run`: set up and run the app on the embedded defaults.  `make test`: set up and run the tests.
HOST ?= 127.0.0.1
PORT ?= 8000
# Worker processes for `make run`; more than one needs REDIS_URL (README, "Running for a team").
WORKERS ?= 1
BIN := .venv/bin

.PHONY: run test install install-dev migrate

install:
	@bash scripts/install.sh requirements.txt

install-dev:
	@bash scripts/install.sh requirements-dev.txt

migrate: install
	WEB_CONCURRENCY=$(WORKERS) $(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_local_model

run: migrate
	@HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) bash scripts/serve.sh

test: install-dev
	@bash scripts/test-deps.sh
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest
