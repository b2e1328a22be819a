"""Logging for every Spectrus process: one JSON object per line (or plain text for a
person at a terminal), with secrets and addresses redacted before anything is written.

Redaction happens in the handler, on the final text of the message, its arguments and any
traceback, so no caller can forget it: login tokens (Discord's three-part form and bearer
headers), values of keys that name a password, token or secret, credentials in URLs, and
IPv4 and IPv6 addresses. A record's trace and span ids are added when OpenTelemetry has a
current span.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"

# Discord-style tokens: base64(user id).base64(time).secret, and long opaque bearer values.
_TOKEN = re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}\b")
_AUTH_HEADER = re.compile(r"(?i)\b(Bearer|Bot|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# key=value, key: value, "key": "value" where the key names a secret.
_SECRET_FIELD = re.compile(
    r"""(?ix)
    (["']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization|private[_-]?key)[\w-]*["']?)
    (\s*[:=]\s*)
    ("[^"]*"|'[^']*'|[^\s,;&}]+)
    """
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# IPv6 as written in URLs and host:port pairs ([2001:db8::1]:443), and bare.
_IPV6_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+(?:%\w+)?)\]")
_IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.\[])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?![\w:\]])"
)


def _ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match[1].split("%")[0])
    except ValueError:
        return match[0]
    return "[ip]"


def _ipv4(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv4Address(match[0])
    except ValueError:
        return match[0]
    return "[ip]"


def redact(text: str) -> str:
    """``text`` with secrets and IP addresses replaced."""
    text = _URL_CREDENTIALS.sub(lambda m: m[1] + REDACTED + "@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _TOKEN.sub(REDACTED, text)
    text = _SECRET_FIELD.sub(lambda m: m[1] + m[2] + REDACTED, text)
    text = _IPV4.sub(_ipv4, text)
    text = _IPV6_BRACKETED.sub(_ipv6, text)
    return _IPV6_CANDIDATE.sub(_ipv6, text)


def _trace_ids() -> dict[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **_trace_ids(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str, fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send every logger's records through one redacting handler on ``stream``
    (stderr). ``fmt`` is ``json``, ``text`` or ``auto`` (text on a terminal, else JSON)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
