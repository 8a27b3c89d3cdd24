# Sourced by run.sh and test.sh: make .venv with Python 3.11+ and install ticklane into it.
# Usage: install_ticklane EXTRAS   (EXTRAS is "" or "[test]")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"

install_ticklane() {
    local python=${PYTHON:-python3}
    if ! command -v "$python" >/dev/null; then
        echo "error: $python not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
        exit 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: ticklane needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2
        exit 1
    fi
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    # Install again only when what it depends on changed (a stamp per pyproject, constraints
    # and extras), so repeated runs start at once.
    local base stamp
    base="$VENV/.installed-$(cat "$REPO/pyproject.toml" "$REPO/constraints.txt" | cksum | cut -d' ' -f1)"
    stamp="$base$1"
    [ -f "$stamp" ] && return 0
    # The test install holds everything the plain one does: run.sh after test.sh starts at once.
    [ -z "$1" ] && [ -f "$base[test]" ] && return 0
    # Versions are pinned in constraints.txt so every machine runs what CI ran.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$REPO/constraints.txt" -e "$REPO$1" 2> >(grep -v "is ignored: it is neither" >&2)
    rm -f "$VENV"/.installed-*
    touch "$stamp"
}
