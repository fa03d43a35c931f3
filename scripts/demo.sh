#!/usr/bin/env bash
# Set up, build the sample town's study and serve it on http://127.0.0.1:5000/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/geojtai demo "$@"
