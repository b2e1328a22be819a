"""The API serving the web client (``spectrus_api.webclient``), against the real app:
caching headers, the page's CSP, the SPA routes, compressed files, and that nothing of
the API (``/api/``, ``/metrics``, health, attachments, emoji) is ever shadowed."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from spectrus_api.app import create_app
from spectrus_api.ratelimit import RateLimiter
from spectrus_api.webclient import content_security_policy, is_client_route
from spectrus_domain.context import Context

INDEX = (
    b"<!doctype html><title>Spectrus</title><script type=module src=/assets/app-1a2b3c.js></script>"
)
SCRIPT = b"console.log('spectrus');" * 40


def build(directory: Path) -> Path:
    """A stand-in for ``web/dist`` as Vite lays it out (with the build's .gz twins)."""
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_bytes(INDEX)
    (directory / "index.html.gz").write_bytes(gzip.compress(INDEX))
    (directory / "assets" / "app-1a2b3c.js").write_bytes(SCRIPT)
    (directory / "assets" / "app-1a2b3c.js.gz").write_bytes(gzip.compress(SCRIPT))
    (directory / "favicon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (directory / ".hidden").write_bytes(b"secret")
    return directory


async def client_for(ctx: Context, web_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx, limiter=RateLimiter(scale=0), web_dir=web_dir)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://spectrus.test") as http:
        yield http


@pytest.fixture
async def web(ctx: Context, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_for(ctx, build(tmp_path / "dist")):
        yield http


@pytest.mark.parametrize("path", ["/", "/login", "/channels/@me", "/channels/1/2", "/invite/abc"])
async def test_client_routes_get_the_page_revalidated_with_a_csp(
    web: httpx.AsyncClient, path: str
) -> None:
    response = await web.get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    # The gateway's origin (from the settings' public URL) is reachable from the page.
    assert "connect-src 'self' ws://127.0.0.1:8080 https:;" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_hashed_assets_are_immutable_and_compressed(web: httpx.AsyncClient) -> None:
    plain = await web.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == SCRIPT
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "content-encoding" not in plain.headers
    assert "content-security-policy" not in plain.headers  # only pages carry one

    packed = await web.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "accept-encoding"
    assert packed.content == SCRIPT  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(SCRIPT)
    assert packed.headers["etag"] != plain.headers["etag"]

    other = await web.get("/favicon.svg")
    assert other.headers["cache-control"] == "public, max-age=3600"
    assert other.headers["content-type"] == "image/svg+xml; charset=utf-8"


async def test_revalidation_and_head(web: httpx.AsyncClient) -> None:
    first = await web.get("/", headers={"Accept-Encoding": "identity"})
    again = await web.get(
        "/", headers={"If-None-Match": first.headers["etag"], "Accept-Encoding": "identity"}
    )
    assert again.status_code == 304
    assert again.content == b""
    head = await web.head("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(SCRIPT))


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",
        "/nope",
        "/.hidden",
        "/assets/%2e%2e/index.html",
        "/index.html.gz",
        "/settingsx",
        "/settings-voice",
    ],
)
async def test_what_is_not_the_client_is_the_apis_404(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == "404: Not Found"


async def test_the_api_is_never_shadowed(web: httpx.AsyncClient) -> None:
    unknown = await web.get("/api/v10/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "404: Not Found", "code": 0}
    assert (await web.get("/api/v10/gateway")).json()["url"].endswith("/gateway")
    assert (await web.get("/healthz")).json() == {"status": "ok"}
    metrics = await web.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/{web client}"' in metrics.text  # the page loads above are counted
    assert (await web.get("/emojis/1.png")).status_code == 404
    assert (await web.get("/attachments/1/2/x.png")).status_code in (403, 404)
    # Other methods on the client's routes are the API's business, as before.
    assert (await web.post("/", json={})).status_code in (404, 405)
    assert (await web.post("/channels/1/2", json={})).status_code in (404, 405)
    docs = await web.get("/api/v10/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_a_new_build_is_picked_up(ctx: Context, tmp_path: Path) -> None:
    dist = build(tmp_path / "dist")
    async for web in client_for(ctx, dist):
        assert (await web.get("/", headers={"Accept-Encoding": "identity"})).content == INDEX
        newer = INDEX.replace(b"Spectrus", b"Spectrus 2")
        (dist / "index.html").write_bytes(newer)
        (dist / "index.html.gz").unlink()
        (dist / "assets" / "app-9z.js").write_bytes(b"//2")
        assert (await web.get("/")).content == newer
        assert (await web.get("/assets/app-9z.js")).content == b"//2"


async def test_without_a_build_the_page_says_how_to_make_one(ctx: Context, tmp_path: Path) -> None:
    async for web in client_for(ctx, tmp_path / "missing"):
        response = await web.get("/")
        assert response.status_code == 503
        assert "npm ci && npm run build" in response.text
        assert (await web.get("/healthz")).status_code == 200
        assert (await web.get("/api/v10/nothing")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/settings",
        "/settings/voice",
        "/settings/diag",
        "/channels/1/settings",
        "/channels/1/settings/channels/2",
    ],
)
async def test_settings_deep_links_get_the_page(web: httpx.AsyncClient, path: str) -> None:
    """Settings have addresses (web/src/ui/settingsRoute.ts): a link to one loads the page,
    revalidated like every client route."""
    response = await web.get(path, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]
    assert "content-security-policy" in response.headers
    again = {"accept-encoding": "gzip", "if-none-match": response.headers["etag"]}
    assert (await web.get(path, headers=again)).status_code == 304


def test_route_list_and_policy() -> None:
    assert is_client_route("/")
    assert is_client_route("/channels")
    assert is_client_route("/channels/1/2")
    assert not is_client_route("/api/v10/channels/1")
    assert not is_client_route("/metrics")
    assert not is_client_route("/gateway")
    assert not is_client_route("/invite")  # only /invite/<code>
    assert is_client_route("/settings") and is_client_route("/settings/appearance")
    assert not is_client_route("/settingsx") and not is_client_route("/api/v10/settings")
    policy = content_security_policy(("wss://gw.example",))
    assert "connect-src 'self' wss://gw.example https:;" in policy
    assert "object-src 'none'" in policy
