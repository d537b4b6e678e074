#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 found on this machine and install the project into it.
# Re-running is cheap: it reinstalls only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev,peers}"
stamp=".venv/.installed-$extras"

is_312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && is_312 "$(command -v "$c")" && { command -v "$c"; return; }
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in "$(pyenv root)"/versions/3.1[2-9]*/bin/python; do
      [ -x "$c" ] && is_312 "$c" && { echo "$c"; return; }
    done
  fi
  return 1
}

if [ -x .venv/bin/python ] && ! is_312 .venv/bin/python; then rm -rf .venv; fi
if [ ! -x .venv/bin/python ]; then
  py=$(find_python) || {
    echo "error: AuraQuant needs Python 3.12 or newer and none was found on PATH or in pyenv." >&2
    echo "       Install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12." >&2
    exit 1
  }
  echo "creating .venv with $py ($("$py" --version))"
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
  touch "$stamp"
fi
