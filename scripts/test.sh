#!/usr/bin/env bash
# Install policydiff with its test dependencies and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Real OPA 1.20 in-process, for differential tests; its metadata names a newer Python
# than the wheel needs, hence the flag.
python3 -m pip install --quiet --disable-pip-version-check --ignore-requires-python opa-golib-python-bindings
# The database tests also run on the machine's PostgreSQL server (Debian's binaries,
# started by the tests themselves in a temporary directory).
# The HTML report is checked as headless Chromium renders it, and the example alerting
# rules with promtool (Debian's prometheus package ships it).
missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# Replay's pooled path (Neon's pooled endpoint is PgBouncer in transaction mode) is tested
# through a real pgbouncer in front of that server.
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The lint the code keeps, the layers it keeps (import-linter contracts in pyproject.toml),
# then every test.
python3 -m ruff check --quiet .
lint-imports --no-cache
python3 -m pytest -q "$@"
