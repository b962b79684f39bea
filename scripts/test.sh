#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it all:
# lint (ruff), format check, types (mypy), the browser code's lint and unit tests
# (ESLint, node --test), and pytest (unit, HTTP, browser,
# notebooks, doctests). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch is pinned in the [diffusers] extra (torch==2.13.0, a CPU wheel here);
# an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --quiet -e ".[dev,diffusers,openvino,postgres]" --config-settings editable_mode=compat

# PostgreSQL tests use the machine's server (127.0.0.1:5432, trust auth; or
# AICREATIVE_TEST_DATABASE_URL) in a database of their own, and skip, saying
# so in the summary, where none answers.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "note: no PostgreSQL server answers at 127.0.0.1:5432; its tests will skip"
fi

# Browser tests drive Debian's Chromium (Playwright cannot download a browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# axe-core for the accessibility tests (the tests inject it; the app never serves it).
if command -v npm >/dev/null 2>&1 && [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm ci --no-audit --no-fund --silent
fi

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1 PYTHONDONTWRITEBYTECODE=1

echo "== ruff (lint, incl. security rules S on aicreative/)"
"$VENV/bin/ruff" check aicreative tests benchmarks notebooks app.py
echo "== ruff format --check"
"$VENV/bin/ruff" format --check aicreative tests benchmarks notebooks app.py
echo "== mypy aicreative"
"$VENV/bin/mypy" aicreative
echo "== browser code: npm ci (when needed), ESLint, node --test"
# node_modules is rebuilt only when missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx --no-install eslint
node --test tests/js/
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
