#!/usr/bin/env bash
# `make run`: serve the app with uvicorn, WORKERS worker processes on HOST:PORT.
#
# uvicorn's own --workers (not gunicorn): one dependency fewer, and since uvicorn 0.30 its
# supervisor restarts a worker that dies and passes SIGTERM on to every worker (each runs
# the app's lifespan, so each drains its replies). WEB_CONCURRENCY carries the count to
# the app, which refuses more than one worker without REDIS_URL (core/checks.py).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export WEB_CONCURRENCY=${WORKERS:-${WEB_CONCURRENCY:-1}}
# prometheus-client's multiprocess mode: every worker writes its metrics here, /metrics
# adds them up. Emptied at each start, as prometheus-client asks.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${DATA_DIR:-data}/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
echo ""
echo "  Chat is starting at http://$HOST:$PORT/ with $WEB_CONCURRENCY worker(s)  (Ctrl+C stops it)"
echo ""
exec .venv/bin/uvicorn config.asgi:application --host "$HOST" --port "$PORT" --workers "$WEB_CONCURRENCY" \
  --loop uvloop --http httptools --timeout-graceful-shutdown 10
