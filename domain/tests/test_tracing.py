"""Which ``OTEL_*`` settings turn tracing on, and the event envelope that carries a
trace and a commit time between processes (readable by the previous release too)."""

from __future__ import annotations

import orjson
import pytest

from spectrus_domain import tracing
from spectrus_domain.bus import BusEvent


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, []),  # off by default
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_asked_for(
    env: dict[str, str], exporters: list[str]
) -> None:
    assert tracing.wanted(env) == exporters


def test_an_unknown_exporter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown exporter zipkin"):
        tracing.wanted({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_off_tracing_costs_nothing_and_carries_nothing() -> None:
    assert not tracing.active()
    with tracing.span("ignored") as span:
        assert span is None
    assert tracing.traceparent() is None
    assert tracing.metadata() == ()


def test_the_envelope_carries_commit_time_and_trace() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    event = BusEvent(1, 2, 0, "MESSAGE_CREATE", {"id": "3"}, 1, 4, None, 1.7e9, parent)
    assert BusEvent.decode(event.encode()) == event


def test_an_envelope_from_the_previous_release_still_reads() -> None:
    old = orjson.dumps([1, 2, 0, "MESSAGE_CREATE", {"id": "3"}, 1, 4, [5, 6]])
    assert BusEvent.decode(old) == BusEvent(
        1, 2, 0, "MESSAGE_CREATE", {"id": "3"}, 1, 4, (5, 6), None, None
    )
