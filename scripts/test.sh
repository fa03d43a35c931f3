#!/usr/bin/env bash
# Set up and run every check: ruff (lint + format), mypy, and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's chromium and the PDF tests render pages with poppler's
# pdftoppm; install them when we can (root with apt-get).
if { ! command -v chromium || ! command -v pdftoppm; } >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and poppler-utils for the browser and PDF tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null
fi
bash scripts/setup.sh dev
.venv/bin/ruff check geojtai web tests benchmarks
.venv/bin/ruff format --check geojtai web tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
