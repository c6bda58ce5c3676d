#!/usr/bin/env bash
# Creates (or brings up to date) the one Python virtual environment the tests use, from
# tests/python/requirements.lock, and prints its path. Idempotent and fast when nothing changed:
# the lock file's hash is kept in the venv and compared first.
# Usage: tests/python/venv.sh            (PROMPTOPS_PY_VENV overrides the location)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/requirements.lock"
venv="${PROMPTOPS_PY_VENV:-$HOME/.cache/promptops-tools/py-venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$lock" >&2
echo "$want" > "$stamp"
echo "$venv"
