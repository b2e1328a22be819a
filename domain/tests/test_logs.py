"""Log output: JSON lines, and secrets and addresses redacted whatever the caller wrote."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from spectrus_domain import logs

TOKEN = "MTEyMzQ1Njc4OTAxMjM0NTY3.ZmFrZQ.c2VjcmV0LXRva2VuLXZhbHVlLTEyMzQ"
SECRETS = [
    TOKEN,
    "hunter2-correct-horse",
    "s3cr3t-signing-key-0123456789abcdef",
    "pgpass-42",
    "203.0.113.77",
    "2001:db8::1234",
    "opaque-bearer-value-abcdef",
]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure("debug", "json", out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_secrets_and_addresses_never_reach_the_output(captured: io.StringIO) -> None:
    log = logging.getLogger("spectrus.test")
    log.info("login with token %s from %s", TOKEN, "203.0.113.77")
    log.info("Authorization: Bot %s", "opaque-bearer-value-abcdef")
    log.warning("register failed for %s", {"username": "ann", "password": "hunter2-correct-horse"})
    log.info("settings: SPECTRUS_SECRET_KEY=s3cr3t-signing-key-0123456789abcdef port=8080")
    log.info("connecting to postgresql://spectrus:pgpass-42@db.internal:5432/spectrus")
    log.info("voice client at [2001:db8::1234]:50000 and 203.0.113.77:4000")
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("request failed")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert len(lines) == 7
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    # What is not secret stays readable.
    assert lines[0]["msg"] == "login with token [redacted] from [ip]"
    assert lines[2]["msg"] == "register failed for {'username': 'ann', 'password': [redacted]}"
    assert "port=8080" in lines[3]["msg"]
    assert "postgresql://spectrus:[redacted]@db.internal:5432/spectrus" in lines[4]["msg"]
    assert lines[5]["msg"] == "voice client at [ip]:50000 and [ip]:4000"
    assert lines[6]["level"] == "error" and "[redacted]" in lines[6]["exception"]
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])


def test_ordinary_text_is_left_alone() -> None:
    for text in [
        "guild 123456789012345678 has 5 channels",
        "took 12:34:56 (hh:mm:ss) at version 1.2",
        "session_ttl=604800 outbox_retention=3600",
    ]:
        assert logs.redact(text) == text


def test_text_format_is_redacted_too() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("info", "text", out)
        logging.getLogger("x").info("token=%s", TOKEN)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert TOKEN not in out.getvalue() and "token=[redacted]" in out.getvalue()
