# Sourced by ./spectrus and ./run-tests: makes sure uv and the workspace are installed.
# Only PyPI is needed (uv itself comes from PyPI); no system Python packages are touched.
set -euo pipefail
export UV_PYTHON_DOWNLOADS=never       # use the machine's Python 3.11+
export UV_PYTHON_PREFERENCE=only-system
if ! command -v uv >/dev/null 2>&1; then
    echo "installing uv from PyPI..." >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore uv
    hash -r
fi
if ! command -v uv >/dev/null 2>&1; then
    uv() { python3 -m uv "$@"; }
fi
uv sync --frozen --quiet
