"""Per-route rate limits with Discord's headers.

``RateLimiter`` is sans-I/O: it takes the time as an argument and keeps fixed windows per
bucket key, as Discord's limits behave (a count that resets at a known instant). The route
class applies a route's limit and the global one (per token, or per address when
anonymous) before the handler runs and sets ``X-RateLimit-*``; a refusal is a 429 with
``Retry-After`` and a ``Via`` header, without which discord.py reads it as a ban.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from spectrus_domain.errors import Error

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Limit:
    count: int
    per: float  # seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    reset_after: float


class RateLimiter:
    """Fixed windows keyed by bucket; memory stays bounded by dropping ended windows."""

    def __init__(self, *, scale: float = 1.0, max_keys: int = 200_000) -> None:
        self.scale = scale
        self._max_keys = max_keys
        self._windows: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._next_sweep = 0.0

    def hit(self, key: tuple[Any, ...], limit: Limit, now: float) -> Decision:
        count = max(1, math.floor(limit.count * self.scale))
        started, used = self._windows.get(key, (now, 0))
        if now >= started + limit.per:
            started, used = now, 0
        reset_at = started + limit.per
        if used >= count:
            return Decision(False, count, 0, reset_at, reset_at - now)
        self._windows[key] = (started, used + 1)
        if len(self._windows) > self._max_keys or now >= self._next_sweep:
            self._sweep(now)
        return Decision(True, count, count - used - 1, reset_at, reset_at - now)

    def _sweep(self, now: float) -> None:
        # Windows are at most a day long; anything older has ended.
        self._windows = {k: v for k, v in self._windows.items() if v[0] + 86_400 > now}
        if len(self._windows) > self._max_keys:  # under a flood, forget the oldest half
            keep = sorted(self._windows.items(), key=lambda kv: kv[1][0])[len(self._windows) // 2 :]
            self._windows = dict(keep)
        self._next_sweep = now + 60


@dataclass(frozen=True)
class Bucket:
    name: str
    limit: Limit
    major: str | None  # path parameter that splits the bucket (channel_id, guild_id, ...)


GLOBAL_LIMIT = Limit(50, 1.0)
DEFAULT_BUCKET = Bucket("default", Limit(50, 1.0), None)


def limit(name: str, count: int, per: float, *, major: str | None = None) -> Callable[[F], F]:
    """Give an endpoint its own bucket. Put it below ``@router.<method>``."""

    def mark(endpoint: F) -> F:
        endpoint.__ratelimit__ = Bucket(name, Limit(count, per), major)  # type: ignore[attr-defined]
        return endpoint

    return mark


def client_address(request: Request, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


def identity(request: Request) -> tuple[str, str]:
    """Rate limits follow the credential when there is one, else the address. Only a
    digest of the token is kept in memory."""
    auth = request.headers.get("authorization")
    if auth:
        return ("token", hashlib.sha256(auth.encode("utf-8", "replace")).hexdigest()[:32])
    return ("ip", client_address(request, request.app.state.ctx.settings.trust_proxy))


def _headers(decision: Decision, bucket_id: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": f"{decision.reset_at:.3f}",
        "X-RateLimit-Reset-After": f"{decision.reset_after:.3f}",
        "X-RateLimit-Bucket": bucket_id,
    }


def too_many_requests(
    retry_after: float,
    *,
    scope: str,
    is_global: bool = False,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> JSONResponse:
    retry = round(max(retry_after, 0.001), 3)
    spec = Error.RATE_LIMITED.value
    content = body or {"message": spec.message, "code": spec.code}
    content |= {"retry_after": retry, "global": is_global}
    response = JSONResponse(
        content,
        status_code=429,
        headers={
            **(headers or {}),
            "Retry-After": str(math.ceil(retry)),
            "X-RateLimit-Scope": scope,
            "Via": "1.1 spectrus",
        },
    )
    if is_global:
        response.headers["X-RateLimit-Global"] = "true"
    return response


class RateLimitedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        bucket: Bucket = getattr(self.endpoint, "__ratelimit__", DEFAULT_BUCKET)
        route_name = f"{','.join(sorted(self.methods or ()))} {self.path}"

        async def limited(request: Request) -> Response:
            limiter: RateLimiter = request.app.state.limiter
            if limiter.scale == 0:
                return await handler(request)
            now = time.time()
            who = identity(request)
            overall = limiter.hit(("global", who), GLOBAL_LIMIT, now)
            if not overall.allowed:
                return too_many_requests(overall.reset_after, scope="global", is_global=True)
            major = request.path_params.get(bucket.major) if bucket.major else None
            name = bucket.name if bucket is not DEFAULT_BUCKET else route_name
            decision = limiter.hit((name, major, who), bucket.limit, now)
            bucket_id = hashlib.sha256(f"{name}:{major}".encode()).hexdigest()[:16]
            headers = _headers(decision, bucket_id)
            if not decision.allowed:
                return too_many_requests(decision.reset_after, scope="user", headers=headers)
            response = await handler(request)
            response.headers.update(headers)
            return response

        return limited
