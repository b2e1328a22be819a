#!/usr/bin/env bash
# Build the web client into web/dist when it is missing or older than its sources, after
# `npm ci` when node_modules is missing or older than package-lock.json.
#   web/build.sh            build (fails without Node.js and npm)
#   web/build.sh --optional the same, but only a note when npm is missing or the build
#                           fails (./spectrus up then serves the last build, or a page
#                           saying how to build it)
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
    if [ "${1:-}" = "--optional" ]; then
        echo "npm not found: the web client is not built (the API works without it)" >&2
        exit 0
    fi
    echo "the web client needs Node.js 20 or newer with npm" >&2
    exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing the web client's packages (npm ci)..." >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
stale=yes
if [ -f dist/index.html ]; then
    stale="$(find src public index.html vite.config.ts tsconfig.json package-lock.json \
        -newer dist/index.html -print -quit)"
fi
if [ -n "$stale" ]; then
    echo "building the web client (npm run build)..." >&2
    if ! npm run --silent build >&2; then
        # ./spectrus up still starts: the API and gateway do not need the client.
        if [ "${1:-}" = "--optional" ]; then
            echo "the web client did not build (above); / serves the last build, if any" >&2
            exit 0
        fi
        exit 1
    fi
fi
