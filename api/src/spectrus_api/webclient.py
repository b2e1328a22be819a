"""The web client's files (``web/dist``, built by Vite) served by the API.

A pure ASGI middleware in front of the API's router. It answers only GET and HEAD, and
only for
- files of the build: ``/assets/...`` (content-hashed names: cached for a year,
  ``immutable``) and the few top-level files (``/favicon.svg``: cached an hour), and
- the client's own routes (``CLIENT_ROUTES``): ``index.html``, revalidated on every load
  (``no-cache`` with an ETag), so a new build reaches browsers at their next visit.

Everything else goes to the API untouched, so it can never shadow ``/api/``, ``/metrics``,
``/healthz``, the gateway, attachments or emoji, and an unknown path is still the API's
JSON 404. The routes are a list rather than "anything not found" for that reason.

Each page carries a Content-Security-Policy that allows scripts and styles from this
origin only (the build inlines nothing), images from this origin plus ``data:``/``blob:``
(previews of files about to be uploaded), and connections to this origin, the gateway,
and media nodes over HTTPS (voice signalling). Files are held in memory (the build is a
few hundred KiB) with their gzip twins, which the build writes next to them; a new build
is picked up when ``index.html`` changes.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

# Where `npm run build` puts the client in a checkout: <repo>/web/dist.
REPO_WEB_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"

# Paths the client routes itself (web/src/ui/App.tsx, Shell.tsx and settingsRoute.ts):
# answered with index.html. Exact paths, and prefixes ending in "/". A server's settings
# live under /channels/<guild>/settings/..., one's own under /settings/....
CLIENT_ROUTES = (
    "/",
    "/login",
    "/register",
    "/channels",
    "/channels/",
    "/invite/",
    "/settings",
    "/settings/",
)

# The label requests served here carry in spectrus_http_requests_total.
METRIC_ROUTE = "/{web client}"

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=3600"
REVALIDATE = "no-cache"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")


def default_directory() -> Path:
    return REPO_WEB_DIR


def content_security_policy(connect: tuple[str, ...] = ()) -> str:
    # Voice signalling goes to a media node's own HTTPS port (``POST https://<endpoint>/
    # webrtc``), whose host and port come with VOICE_SERVER_UPDATE and may be picked at
    # start (``--voice-port 0``) or differ per node: any https origin may be asked.
    sources = " ".join(("'self'", *connect, "https:"))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "font-src 'self'",
            f"connect-src {sources}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def websocket_origin(url: str) -> str | None:
    """``ws://host:port`` of a gateway URL, for ``connect-src``."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str
    cache: str


def _content_type(path: Path) -> str:
    guessed = {".js": "text/javascript", ".mjs": "text/javascript", ".svg": "image/svg+xml"}
    kind = guessed.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    kind = kind or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/json", "image/svg+xml"):
        kind += "; charset=utf-8"
    return kind


def _load(directory: Path) -> dict[str, _File]:
    """Every file of the build by URL path (``/index.html``, ``/assets/x.js``)."""
    files: dict[str, _File] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or path.suffix == ".gz":
            continue
        if any(part.startswith(".") or not _SAFE_NAME.match(part) for part in relative.parts):
            continue
        body = path.read_bytes()
        twin = path.with_name(path.name + ".gz")
        kind = _content_type(path)
        gzipped = (
            twin.read_bytes() if twin.is_file() and kind.startswith(_COMPRESSED_TYPES) else None
        )
        url = "/" + relative.as_posix()
        if url.startswith("/assets/"):
            cache = IMMUTABLE
        elif url == "/index.html":
            cache = REVALIDATE
        else:
            cache = SHORT
        digest = hashlib.sha256(body).hexdigest()[:20]
        files[url] = _File(body, gzipped, digest, kind, cache)
    return files


def is_client_route(path: str) -> bool:
    return any(
        path == r or (r.endswith("/") and r != "/" and path.startswith(r)) for r in CLIENT_ROUTES
    )


class WebClient:
    """Serves the built client in front of ``app`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, directory: Path, connect: tuple[str, ...] = ()) -> None:
        self.app = app
        self.directory = directory
        self.index = directory / "index.html"
        self.csp = content_security_policy(connect)
        self._files: dict[str, _File] = {}
        self._stamp: tuple[int, int] | None = None

    def _snapshot(self) -> dict[str, _File] | None:
        """The build's files, reloaded when index.html changed (a new build)."""
        try:
            stat = self.index.stat()
        except OSError:
            self._files, self._stamp = {}, None
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._files, self._stamp = _load(self.directory), stamp
        return self._files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        client_route = is_client_route(path)
        if not client_route and not path.startswith("/assets/") and path.count("/") != 1:
            await self.app(scope, receive, send)
            return
        files = self._snapshot()
        found = None
        if files is not None:
            found = files.get("/index.html") if client_route else files.get(path)
        if found is None:
            if client_route and files is None:
                await self._not_built(scope, send)
                return
            await self.app(scope, receive, send)  # not ours: the API answers (JSON 404)
            return
        scope["endpoint"] = WebClient  # for the metrics label (METRIC_ROUTE)
        await self._send_file(scope, send, found)

    async def _send_file(self, scope: Scope, send: Send, file: _File) -> None:
        request = Headers(scope=scope)
        gzip = file.gzipped is not None and "gzip" in request.get("accept-encoding", "")
        body = file.gzipped if gzip and file.gzipped is not None else file.body
        etag = f'"{file.etag}{"-gz" if gzip else ""}"'
        headers = [
            (b"content-type", file.content_type.encode()),
            (b"cache-control", file.cache.encode()),
            (b"etag", etag.encode()),
            (b"vary", b"accept-encoding"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if gzip:
            headers.append((b"content-encoding", b"gzip"))
        if file.content_type.startswith("text/html"):
            headers += [
                (b"content-security-policy", self.csp.encode()),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
                (b"cross-origin-opener-policy", b"same-origin"),
                (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
            ]
        wanted = request.get("if-none-match", "")
        if wanted and etag in {tag.strip() for tag in wanted.split(",")}:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _not_built(self, scope: Scope, send: Send) -> None:
        text = (
            b"The Spectrus web client is not built. In the repository, run:\n\n"
            b"    cd web && npm ci && npm run build\n\n"
            b"The API is at /api/v10 (documentation: /api/v10/docs).\n"
        )
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(text)).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else text}
        )
