"""HTTP metrics of the API: a pure ASGI middleware counting requests and timing them by
route template (``/api/v10/channels/{channel_id}/messages``), never by raw path, so a
label never carries an id. Requests no route matched share one label value,
``unmatched``.

The router records what it matched in the scope (``route``, and ``endpoint`` for plain
Starlette routes); the middleware reads it after the app ran. FastAPI keeps an included
router's routes as they were declared, without the include's prefix, so the full
templates are computed once when the app is built (``route_templates``) and looked up by
the identity of the matched route or endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from fastapi import APIRouter, FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spectrus_domain.metrics import LATENCY_BUCKETS

REQUESTS = Counter(
    "spectrus_http_requests",
    "HTTP requests answered by the API, by method, route template and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "spectrus_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_templates(app: FastAPI, included: Iterable[tuple[str, APIRouter]]) -> dict[int, str]:
    """Full path templates by ``id`` of route and endpoint: the app's own routes, and
    those of the routers it included under each prefix."""
    table: dict[int, str] = {}
    for route in app.router.routes:
        path, endpoint = getattr(route, "path", None), getattr(route, "endpoint", None)
        if isinstance(path, str) and endpoint is not None:
            table[id(route)] = table[id(endpoint)] = path
    for prefix, router in included:
        for route in router.routes:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                table[id(route)] = prefix + path
    return table


class HttpMetrics:
    def __init__(self, app: ASGIApp, templates: Mapping[int, str]) -> None:
        self.app = app
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless an answer starts: an exception escapes to the server
        started = time.perf_counter()

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            # Mounted in another app (``spectrus up``), ``route`` may be the outer mount:
            # only what this app's routes put there is in the table.
            template = self.templates.get(id(scope.get("route"))) or self.templates.get(
                id(scope.get("endpoint"))
            )
            labels = (
                scope["method"] if scope["method"] in _METHODS else "other",
                template or UNMATCHED,
            )
            REQUESTS.labels(*labels, str(status)).inc()
            DURATION.labels(*labels).observe(time.perf_counter() - started)
