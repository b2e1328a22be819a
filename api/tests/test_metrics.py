"""The API's ``/metrics``: requests counted by route template, never by raw path."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.tests.conftest import Api

METRICS = "http://spectrus.test/metrics"
MESSAGES = "/api/v10/channels/{channel_id}/messages"


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await http.get(METRICS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template(http: httpx.AsyncClient, api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    before = await scrape(http)

    await api.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "hi"})
    await api.call(owner, "GET", f"/channels/{channel}/messages")
    await api.call(owner, "GET", f"/channels/{channel}/messages/123", 404)
    await api.call(owner, "GET", "/no/such/path/98765432109876", 404)
    assert (await http.post(METRICS)).status_code == 405

    after = await scrape(http)
    requests = "spectrus_http_requests_total"
    for method, route, status, count in [
        ("POST", MESSAGES, "200", 1),
        ("GET", MESSAGES, "200", 1),
        ("GET", MESSAGES + "/{message_id}", "404", 1),
        ("GET", "unmatched", "404", 1),
        ("POST", "/metrics", "405", 1),
    ]:
        labels = {"method": method, "route": route, "status": status}
        assert value(after, requests, **labels) - value(before, requests, **labels) == count
    duration = "spectrus_http_request_duration_seconds_count"
    assert (
        value(after, duration, method="POST", route=MESSAGES)
        - value(before, duration, method="POST", route=MESSAGES)
        == 1
    )

    # No label carries an id (a snowflake, the channel's or any other).
    for (name, labels), _ in after.items():
        for label, text in labels:
            assert channel not in text and not re.search(r"\d{5,}", text), (name, label, text)

    # The pool is read when scraped.
    assert value(after, "spectrus_db_pool_size") >= 10
    assert (
        value(after, "spectrus_db_pool_connections", state="idle")
        + value(after, "spectrus_db_pool_connections", state="used")
        >= 1
    )
    assert value(after, "spectrus_bus_published_total") >= 0
