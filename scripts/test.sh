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
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# Replay's pooled path (Neon's pooled endpoint is PgBouncer in transaction mode) is tested
# through a real pgbouncer in front of that server.
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
python3 -m pytest -q "$@"
