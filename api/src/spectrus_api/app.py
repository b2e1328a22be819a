"""The FastAPI application: routers under ``/api/v10``, Discord-shaped errors, limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spectrus_api import routes
from spectrus_api.embeds.fetcher import DnsResolver, SafeFetcher
from spectrus_api.embeds.previewer import LinkPreviewer
from spectrus_api.metrics import HttpMetrics, route_templates
from spectrus_api.ratelimit import RateLimiter, too_many_requests
from spectrus_api.uploads import form_limit
from spectrus_api.validation import form_errors
from spectrus_api.webclient import METRIC_ROUTE, WebClient, default_directory, websocket_origin
from spectrus_domain import diag
from spectrus_domain.actions import maintenance
from spectrus_domain.bus import BackgroundPublisher
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.limits import JSON_BODY_MAX_BYTES
from spectrus_domain.metrics import metrics_app
from spectrus_domain.storage import files
from spectrus_domain.storage.files import FileStore

log = logging.getLogger("spectrus.api")

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "errors": {"type": "object"},
        "retry_after": {"type": "number"},
        "global": {"type": "boolean"},
    },
    "required": ["code", "message"],
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    for status, text in (
        (400, "Invalid form body or request"),
        (401, "Missing or invalid token"),
        (403, "Missing access or permissions"),
        (404, "Unknown object"),
        (405, "Method not allowed"),
        (413, "Request body too large"),
        (429, "Rate limited"),
    )
}


def error_response(error: DomainError) -> JSONResponse:
    if error.spec.http_status == 429:  # slowmode: a 429 with its own code
        return too_many_requests(error.retry_after or 1.0, scope="user", body=error.body())
    return JSONResponse(error.body(), status_code=error.spec.http_status)


# Where files may be sent (message create and edit): those bodies may be far larger.
_UPLOAD_PATHS = re.compile(r"^/api/v10/channels/\d+/messages(/\d+)?$")


class BodyLimit:
    """Refuse request bodies over the limit, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if _UPLOAD_PATHS.match(scope["path"]) and scope["method"] in ("POST", "PATCH"):
            limit = self.upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await error_response(DomainError(Error.PAYLOAD_TOO_LARGE))(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise DomainError(Error.PAYLOAD_TOO_LARGE)
            return message

        await self.app(scope, counted, send)


def default_previewer(ctx: Context) -> LinkPreviewer | None:
    if not ctx.settings.link_previews:
        return None
    fetcher = SafeFetcher(DnsResolver(), allow=ctx.settings.embed_networks)
    return LinkPreviewer(ctx, fetcher)


def create_app(
    ctx: Context,
    *,
    limiter: RateLimiter | None = None,
    previewer: LinkPreviewer | None = None,
    store: FileStore | None = None,
    web_dir: Path | None = None,
    diag_board: diag.Board | None = None,
) -> FastAPI:
    """The API; its lifespan runs the background work (housekeeping, removing files,
    link previews, posting its diagnostics). Whoever mounts it in another app enters
    ``app.router.lifespan_context``. ``diag_board`` is where ``/diag`` reads every
    process's report; by default, this process's own."""
    previewer = previewer or default_previewer(ctx)
    store = store or files.open_store(ctx.settings)
    reporter = _reporter(ctx)
    board = diag_board or diag.LocalBoard([])
    if isinstance(board, diag.LocalBoard):
        board.reporters.append(reporter)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = [
            asyncio.create_task(maintenance.run_forever(ctx)),
            asyncio.create_task(files.sweep_forever(ctx.db, store, ctx.now)),
        ]
        if not isinstance(board, diag.LocalBoard):
            background.append(asyncio.create_task(diag.post_forever(reporter, board)))
        if previewer is not None:
            await previewer.start()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if previewer is not None:
                await previewer.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Spectrus API",
        version="10",
        description="Discord API v10 compatible REST API of a Spectrus instance.",
        openapi_url="/api/v10/openapi.json",
        docs_url="/api/v10/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.limiter = limiter or RateLimiter(scale=ctx.settings.rate_limit_scale)
    app.state.previewer = previewer
    app.state.files = store
    app.state.diag = board

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(DomainError(Error.INVALID_JSON))
        return error_response(DomainError(Error.INVALID_FORM_BODY, errors=form_errors(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, DomainError):  # FastAPI wraps errors from reading the body
            return error_response(exc.__cause__)
        known = {401: Error.UNAUTHORIZED, 404: Error.NOT_FOUND, 405: Error.METHOD_NOT_ALLOWED}
        error = known.get(exc.status_code)
        if error is None:
            response = JSONResponse(
                {"message": f"{exc.status_code}: {exc.detail}", "code": 0},
                status_code=exc.status_code,
            )
        else:
            response = error_response(DomainError(error))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def server_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"message": "500: Internal Server Error", "code": 0}, status_code=500)

    for router in routes.ROUTERS:
        app.include_router(router, prefix="/api/v10", responses=ERROR_RESPONSES)
    app.include_router(routes.health.router)
    app.include_router(routes.diag.page_router, responses=ERROR_RESPONSES)
    app.include_router(routes.files.router, responses=ERROR_RESPONSES)
    app.router.routes.append(
        Route("/metrics", metrics_app, methods=["GET"], include_in_schema=False)
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=JSON_BODY_MAX_BYTES,
        upload_bytes=form_limit(ctx.settings.upload_limit),
    )
    # The web client (web/dist): GET/HEAD of its files and routes only; see webclient.py.
    gateway_origin = websocket_origin(ctx.settings.websocket_url)
    app.add_middleware(
        WebClient,
        directory=web_dir or Path(ctx.settings.web_dir or default_directory()),
        connect=(gateway_origin,) if gateway_origin else (),
    )
    included = [("/api/v10", router) for router in routes.ROUTERS]
    included += [("", routes.health.router), ("", routes.files.router)]
    included.append(("", routes.diag.page_router))
    templates = route_templates(app, included)
    templates[id(WebClient)] = METRIC_ROUTE
    # Outermost of ours: it also counts what BodyLimit refuses.
    app.add_middleware(HttpMetrics, templates=templates)
    _hoist_schema_components(app)
    return app


def _reporter(ctx: Context) -> diag.Reporter:
    """The api's part of ``/diag``: its database pool and what waits to be published."""
    reporter = diag.Reporter("api", uuid.uuid4().hex[:12])

    async def database() -> dict[str, Any]:
        pool = ctx.db.pool
        return {"size": pool.get_size(), "idle": pool.get_idle_size(), "max": pool.get_max_size()}

    async def queues() -> dict[str, int]:
        publisher = ctx.db.publisher
        return (
            {"publish": publisher.backlog()} if isinstance(publisher, BackgroundPublisher) else {}
        )

    reporter.sections.update(database=database, queues=queues)
    return reporter


def _hoist_schema_components(app: FastAPI) -> None:
    """Routes documenting their body by hand (``openapi_extra``) carry the schemas it
    refers to as ``x-components``; they belong in ``components.schemas``."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            shared = schema.setdefault("components", {}).setdefault("schemas", {})
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    shared.update(operation.pop("x-components", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
