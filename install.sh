#!/usr/bin/env bash
# Set-up: a virtual environment in .venv holding DSE, its test tools, and llama.cpp built for
# this CPU's real instruction set (never -march=native: some VMs advertise instructions that
# fault). Run it again at any time: what is already right is kept, and a wheel built once
# per CPU is reused from ~/.cache/dse/llama-wheels.
set -euo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python dse_tui/engine/generation/providers/llama_build.py install --python .venv/bin/python
.venv/bin/python -m pip install -q -e '.[test]'
echo "DSE is set up: run .venv/bin/dse (tests: .venv/bin/python -m pytest -q)"
