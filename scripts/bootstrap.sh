#!/usr/bin/env bash
# Create .venv and install urbanbrain with its dev extra, idempotently.
#
# - Creates .venv with `python3 -m venv` when it is missing or broken.
# - Runs `pip install -e '.[dev]'` only when pyproject.toml is newer than the stamp .venv/.installed
#   (or the stamp or the `urbanbrain` entry point is missing), so repeated runs take well under a second.
# - Quiet on success; on failure prints pip's output and exits non-zero.
# - Serialised with flock, so parallel `make` invocations never run two pip installs into one venv.
#
# Environment: PYTHON (default python3), VENV (default .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.installed"

die() { echo "bootstrap: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11+ (Debian: apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); urbanbrain needs Python 3.11 or newer"

mkdir -p "$VENV"
exec 9>"$VENV/.bootstrap.lock"
flock 9

log=$(mktemp "${TMPDIR:-/tmp}/urbanbrain-bootstrap.XXXXXX")
trap 'rm -f "$log"' EXIT

# A venv whose interpreter no longer runs (Python upgraded, clone moved) is rebuilt from scratch.
if [ -e "$VENV/bin/python" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  echo "bootstrap: $VENV/bin/python is broken; recreating $VENV" >&2
  find "$VENV" -mindepth 1 -maxdepth 1 ! -name .bootstrap.lock -exec rm -rf {} +
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV" >&2
  if ! "$PYTHON" -m venv "$VENV" >"$log" 2>&1; then
    cat "$log" >&2
    die "'$PYTHON -m venv $VENV' failed (Debian: apt-get install python3-venv)"
  fi
  rm -f "$STAMP"
fi

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ ! -x "$VENV/bin/urbanbrain" ]; then
  echo "bootstrap: installing urbanbrain and its dev extra into $VENV (pip install -e '.[dev]')" >&2
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e '.[dev]' \
      >"$log" 2>&1; then
    cat "$log" >&2
    die "pip install -e '.[dev]' failed (output above)"
  fi
  # A "successful" install can still report dependency conflicts; show those, not pip's other chatter.
  grep -E '^ERROR|requires .*(which is not installed|but you have)' "$log" >&2 || true
  touch "$STAMP"
fi
