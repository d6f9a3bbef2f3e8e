# `make run`: set up and run the app on the embedded defaults.  `make test`: set up and run the tests.
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := .venv/bin

.PHONY: run test install install-dev migrate

install:
	@bash scripts/install.sh requirements.txt

install-dev:
	@bash scripts/install.sh requirements-dev.txt

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_local_model

run: migrate
	@echo ""
	@echo "  Chat is starting at http://$(HOST):$(PORT)/  (Ctrl+C stops it)"
	@echo ""
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --loop uvloop --http httptools --timeout-graceful-shutdown 10

test: install-dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest
