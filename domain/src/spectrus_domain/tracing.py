"""OpenTelemetry traces: turning them on from the standard ``OTEL_*`` variables, and
carrying a trace across the processes an event passes through.

Tracing is off unless asked for: ``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``) or an
OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
turns it on, ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keeps it off.
Everything else is the SDK's own reading of the standard variables: ``OTEL_SERVICE_NAME``
and ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and its argument, the
``OTEL_BSP_*`` batching settings, and the OTLP exporter's endpoint, headers, timeout and
compression (OTLP over HTTP/protobuf).

An event's trace crosses two boundaries that no instrumentation library knows:

- the bus: the transaction that writes an event to the outbox stamps the W3C
  ``traceparent`` of its span into the event envelope (``BusEvent.trace``), and each
  gateway that dispatches the event starts its span as a child of it;
- the media control calls: the gateway sends ``traceparent`` in the gRPC metadata and the
  media node continues the trace there.

When tracing is off (``active()`` is false) the hot paths skip even building a
carrier, so an idle tracer costs a branch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger("spectrus.tracing")

TRACER_NAME = "spectrus"
_EXPORTERS = ("otlp", "console")


class _State:
    enabled = False
    tracer: trace.Tracer = trace.NoOpTracer()


_state = _State()


def active() -> bool:
    """Whether this process exports spans."""
    return _state.enabled


def wanted(env: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters the environment asks for; empty when tracing stays off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    if "none" in names:
        return []
    unknown = [n for n in names if n not in _EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(unknown)} "
            f"(Spectrus ships {', '.join(_EXPORTERS)}, or none)"
        )
    return names


def configure(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Start exporting this process's spans as the environment asks; ``service`` names
    the process unless ``OTEL_SERVICE_NAME`` (or ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES``) does. Returns whether tracing is on."""
    exporters = wanted(env)
    if not exporters:
        return False
    # Imported only when tracing is on: the SDK and the exporter are not needed otherwise.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": service}))
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state.tracer = trace.get_tracer(TRACER_NAME)
    _state.enabled = True
    log.info("tracing on: exporting spans by %s", ", ".join(exporters))
    return True


def shutdown() -> None:
    """Flush the spans still buffered (at exit)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if _state.enabled and flush is not None:
        flush()


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    attributes: Mapping[str, str | int] | None = None,
    links: Iterable[str | None] = (),
) -> AbstractContextManager[Span | None]:
    """A span around a block, current inside it; nothing at all when tracing is off.
    ``parent`` is a ``traceparent`` carried from another process (otherwise the current
    span is the parent); ``links`` are others the span relates to."""
    if not _state.enabled:
        return nullcontext()
    ctx = None if parent is None else _extract(parent)
    return _state.tracer.start_as_current_span(
        name,
        context=ctx,
        kind=kind,
        attributes=dict(attributes or {}),
        links=[trace.Link(s) for p in links if p and (s := _span_context(p)) is not None],
    )


def record(
    name: str,
    *,
    parent: str,
    start_ns: int,
    end_ns: int,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> None:
    """A finished span of work that was timed without one open (work done in batches,
    where a span per item would be open across other items' work)."""
    if not _state.enabled:
        return
    opened = _state.tracer.start_span(
        name,
        context=_extract(parent),
        kind=kind,
        attributes=dict(attributes or {}),
        start_time=start_ns,
    )
    opened.end(end_time=end_ns)


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent``, to carry across a process boundary."""
    if not _state.enabled:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def metadata() -> tuple[tuple[str, str], ...]:
    """The current trace as gRPC metadata (empty when there is none)."""
    parent = traceparent()
    return (("traceparent", parent),) if parent else ()


def from_metadata(pairs: Iterable[tuple[str, str | bytes]]) -> str | None:
    """The ``traceparent`` of gRPC invocation metadata, if the caller sent one."""
    for key, value in pairs:
        if key == "traceparent":
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def _extract(parent: str) -> context.Context:
    return propagate.extract({"traceparent": parent})


def _span_context(parent: str) -> trace.SpanContext | None:
    found = trace.get_current_span(_extract(parent)).get_span_context()
    return found if found.is_valid else None
