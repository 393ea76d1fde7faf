#!/usr/bin/env bash
# Install policydiff with its test dependencies and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Real OPA 1.20 in-process, for differential tests; its metadata names a newer Python
# than the wheel needs, hence the flag.
python3 -m pip install --quiet --disable-pip-version-check --ignore-requires-python opa-golib-python-bindings
python3 -m pytest -q "$@"
