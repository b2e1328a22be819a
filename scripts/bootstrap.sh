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

# need_debian_packages PKG...: apt-get install what is missing (the machine runs as root).
need_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # The package starts its own service on 6379; the tests start their own servers.
        service redis-server stop >/dev/null 2>&1 || true
    fi
}

# need_versitygw: a real S3-compatible server (versitygw, built from the Go module proxy)
# for the file store tests; its path goes to the tests in SPECTRUS_TEST_VERSITYGW.
need_versitygw() {
    local version=v1.8.0 gobin bin
    if ! command -v go >/dev/null 2>&1; then
        echo "the S3 tests need Go (go install builds versitygw); install Go 1.25 or newer" >&2
        return 1
    fi
    gobin="$(go env GOBIN)"
    bin="${gobin:-$(go env GOPATH)/bin}/versitygw"
    if ! [ -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "versitygw[[:space:]]$version"; then
        echo "building versitygw $version from the Go module proxy (about a minute)..." >&2
        go install "github.com/versity/versitygw/cmd/versitygw@$version"
    fi
    export SPECTRUS_TEST_VERSITYGW="$bin"
}
