"""The web client end to end, in Debian's headless Chromium (``/usr/bin/chromium``)
driven by playwright-core from ``web/node_modules``, against a server started as the
README says (``./spectrus up``).

The scenarios are ``e2e.mjs`` (text: two people chat, react, edit, upload, go offline;
custom emoji, replies, pins, search, link previews, presence), ``voice.mjs`` (two people
with Chromium's fake microphones hear each other over WebRTC; speaking rings, volume,
devices, push-to-talk) and ``admin.mjs`` (roles, channels and categories, channel
overwrites, members, nicknames, bans, invites, the audit log, settings' addresses, and
the instance's diagnostics) beside this file; see their
headers. Screenshots of the main views land in
``tests/web/screenshots/`` (ignored by git), with ``figures.json``: time from login to
the first rendered channel, guild switch time, voice join time, and the bundle size.

Needs, as ``./run-tests`` provides them: ``apt-get install chromium`` and ``web/build.sh``
(``npm ci && npm run build``). A missing or stale build fails (not skips) with the
command that fixes it.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DIST = WEB / "dist"
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
CHROMIUM = Path(os.environ.get("SPECTRUS_TEST_CHROMIUM", "/usr/bin/chromium"))
BUILD_INPUTS = (
    "src",
    "public",
    "index.html",
    "vite.config.ts",
    "package-lock.json",
    "tsconfig.json",
)


def _newest_input() -> float:
    newest = 0.0
    for name in BUILD_INPUTS:
        path = WEB / name
        paths = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(p.stat().st_mtime for p in paths if p.is_file())])
    return newest


def require_web_build() -> None:
    fix = "web/build.sh"
    if shutil.which("node") is None:
        pytest.fail("the web client tests need Node.js (node) on PATH")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        pytest.fail(f"web/node_modules is missing playwright-core: run `{fix}`")
    index = DIST / "index.html"
    if not index.is_file():
        pytest.fail(f"the web client is not built: run `{fix}`")
    if index.stat().st_mtime < _newest_input():
        pytest.fail(f"web/dist is older than web/src: run `{fix}`")


def bundle_sizes() -> dict[str, int]:
    """What a first visit downloads (the page and the files it names: the app's script,
    its styles), raw and gzip-compressed; and the chunks fetched later, when first used
    (settings and administration, the emoji set)."""
    index = DIST / "index.html"
    named = set(re.findall(r'/assets/([^"\']+)', index.read_text()))
    assets = [f for f in sorted((DIST / "assets").iterdir()) if f.suffix in (".js", ".css")]
    first = [index, *(f for f in assets if f.name in named)]
    later = [f for f in assets if f.name not in named]

    def packed(files: list[Path]) -> int:
        return sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)

    return {
        "bundle_bytes": sum(f.stat().st_size for f in first),
        "bundle_gzip_bytes": packed(first),
        "js_gzip_bytes": packed([f for f in first if f.suffix == ".js"]),
        "lazy_chunks_gzip_bytes": packed(later),
    }


def test_vitest_unit_tests() -> None:
    """The client's own unit tests (Markdown parsing and its safety)."""
    require_web_build()
    done = subprocess.run(
        ["npx", "--no-install", "vitest", "run"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_scenario(script: str, server: Any) -> dict[str, Any]:
    """Run a browser scenario against ``server``; its figures, or the failure with the
    scenario's and the server's output."""
    done = subprocess.run(
        [
            "node",
            str(HERE / script),
            "--base",
            server.base,
            "--out",
            str(SCREENSHOTS),
            "--chromium",
            str(CHROMIUM),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{script} failed (screenshots in {SCREENSHOTS}):\n{done.stdout}\n"
            f"{done.stderr}\n--- server output (tail) ---\n{server.output()[-4000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"]
    figures: dict[str, Any] = result["figures"]
    return figures


def save_figures(figures: dict[str, Any]) -> None:
    path = SCREENSHOTS / "figures.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**saved, **figures}, indent=2) + "\n")
    print("web client figures:", json.dumps(figures))


def started(spectrus: Callable[..., Any]) -> Any:
    require_web_build()
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    # Link previews may fetch from loopback: the e2e scenario serves the page it previews.
    server = spectrus(SPECTRUS_EMBED_ALLOW_NETWORKS="127.0.0.1/32")
    server.start()
    SCREENSHOTS.mkdir(exist_ok=True)
    return server


@pytest.mark.slow
def test_two_people_chat_in_two_browsers(spectrus: Callable[..., Any]) -> None:
    server = started(spectrus)
    # The server answers the page itself (the scenario checks the rest in the browser).
    page = httpx.get(server.base + "/channels/1/2")
    assert page.status_code == 200
    assert "content-security-policy" in page.headers
    figures = {**run_scenario("e2e.mjs", server), **bundle_sizes()}
    save_figures(figures)
    for name in (
        "01-login-light",
        "03-upload-preview-light",
        "04-offline-dark",
        "05-chat-light",
        "06-chat-dark",
        "07-phone-chat-dark",
        "08-phone-channels-dark",
        "16-emoji-picker-light",
        "17-pins-dark",
        "18-search-light",
        "19-search-dark",
        "20-presence-light",
    ):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 5000, name


@pytest.mark.slow
def test_two_browsers_hear_each_other(spectrus: Callable[..., Any]) -> None:
    server = started(spectrus)
    figures = run_scenario("voice.mjs", server)
    save_figures(figures)
    for name in (
        "09-voice-light",
        "10-voice-volume-light",
        "13-voice-settings-light",
        "14-voice-settings-dark",
        "15-push-to-talk-light",
    ):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 5000, name


@pytest.mark.slow
def test_administration_in_the_browser(spectrus: Callable[..., Any]) -> None:
    """On a fresh server, so the scenario's first account is the instance's admin."""
    server = started(spectrus)
    save_figures(run_scenario("admin.mjs", server))
    for view in (
        "21-settings-roles",
        "22-settings-members",
        "23-settings-channel-permissions",
        "24-audit-log",
        "26-diag",
        "27-settings-channels",
        "29-server-profile",
    ):
        for theme in ("light", "dark"):
            assert (SCREENSHOTS / f"{view}-{theme}.png").stat().st_size > 5000, view
    assert (SCREENSHOTS / "25-role-colour-light.png").stat().st_size > 5000
