"""Rate limits: the sans-I/O limiter with injected time, and Discord's HTTP shape."""

from __future__ import annotations

import httpx
import pytest

from spectrus_api.app import create_app
from spectrus_api.ratelimit import Limit, RateLimiter


def test_fixed_window_counts_and_resets() -> None:
    limiter = RateLimiter()
    limit = Limit(3, 10.0)
    decisions = [limiter.hit(("k",), limit, now=100.0 + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].reset_after == pytest.approx(7.0)
    assert limiter.hit(("k",), limit, now=110.0).allowed
    assert limiter.hit(("other",), limit, now=103.5).allowed  # buckets are independent


def test_scale_multiplies_limits() -> None:
    limiter = RateLimiter(scale=2)
    assert sum(limiter.hit(("k",), Limit(3, 10), now=0).allowed for _ in range(10)) == 6


def test_memory_stays_bounded_under_a_flood_of_keys() -> None:
    limiter = RateLimiter(max_keys=1000)
    for i in range(10_000):
        limiter.hit(("ip", str(i)), Limit(5, 60), now=float(i) / 100)
    assert len(limiter._windows) <= 1000


@pytest.fixture
async def limited(ctx):
    app = create_app(ctx, limiter=RateLimiter(scale=1))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://spectrus.test/api/v10"
    ) as client:
        yield client


async def test_429_has_discords_shape_and_headers(limited) -> None:
    statuses = []
    for i in range(7):
        r = await limited.post(
            "/auth/register", json={"username": f"rl{i}", "password": "correct horse battery"}
        )
        statuses.append(r.status_code)
    assert statuses[:5] == [201] * 5 and statuses[5:] == [429, 429]
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert (
        body["message"] == "You are being rate limited."
        and body["global"] is False
        and body["retry_after"] > 0
    )
    assert r.headers["via"] and r.headers["x-ratelimit-scope"] == "user"
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining"] == "0"


async def test_limits_are_per_route_and_headers_count_down(limited) -> None:
    r = await limited.post(
        "/auth/register", json={"username": "hdr", "password": "correct horse battery"}
    )
    token = r.json()["token"]
    first = await limited.get("/users/@me", headers={"Authorization": token})
    second = await limited.get("/users/@me", headers={"Authorization": token})
    assert (
        int(first.headers["x-ratelimit-remaining"])
        == int(second.headers["x-ratelimit-remaining"]) + 1
    )
    assert first.headers["x-ratelimit-bucket"] == second.headers["x-ratelimit-bucket"]
    other = await limited.get("/users/@me/guilds", headers={"Authorization": token})
    assert other.headers["x-ratelimit-bucket"] != first.headers["x-ratelimit-bucket"]
    assert float(first.headers["x-ratelimit-reset-after"]) <= 1.0


async def test_global_limit_per_token(limited) -> None:
    r = await limited.post(
        "/auth/register", json={"username": "glob", "password": "correct horse battery"}
    )
    token = r.json()["token"]
    codes = [
        (await limited.get("/gateway/bot", headers={"Authorization": token})).status_code
        for _ in range(55)
    ]
    assert codes.count(429) >= 1
    refused = await limited.get("/gateway/bot", headers={"Authorization": token})
    assert refused.status_code == 429 and refused.headers["x-ratelimit-global"] == "true"
    assert refused.json()["global"] is True


def test_no_route_runs_code_in_a_worker_thread(ctx) -> None:
    """FastAPI runs plain-function dependencies and endpoints in a thread pool: a thread
    hop per request, and non-daemon threads that kept the process alive after Ctrl-C."""
    import inspect

    from fastapi.routing import APIRoute

    def calls(dependant):
        if dependant.call is not None:
            yield dependant.call
        for sub in dependant.dependencies:
            yield from calls(sub)

    def api_routes(routes):
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI 0.16x keeps included routers whole
                yield from api_routes(route.original_router.routes)

    app = create_app(ctx)
    offenders = set()
    found = list(api_routes(app.routes))
    assert len(found) > 60
    for route in found:
        for call in calls(route.dependant):
            target = (
                call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
            )
            if not inspect.iscoroutinefunction(target):
                offenders.add(f"{route.path}: {getattr(call, '__name__', call)}")
    assert not offenders, sorted(offenders)
