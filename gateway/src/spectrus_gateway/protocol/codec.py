"""Turning payloads into WebSocket frames: JSON text, or a compressed transport stream.

``zlib-stream`` and ``zstd-stream`` keep one compression context for the life of the
connection and flush it after every payload, so each binary frame ends a payload the
client can decompress at once, and later payloads reuse the dictionary built by earlier
ones (Discord's transport compression). zlib flushes end in ``00 00 ff ff``.
"""

from __future__ import annotations

import zlib
from typing import Any, Protocol

import orjson
import zstandard


class Encoder(Protocol):
    def encode(self, payload: dict[str, Any], raw_data: str | None = None) -> str | bytes: ...


def to_json(payload: dict[str, Any], raw_data: str | None) -> str:
    """The payload as JSON; with ``raw_data`` (its ``d``, already encoded for many
    recipients) only the envelope is written here."""
    if raw_data is None:
        return orjson.dumps(payload).decode()
    return f'{{"op":0,"t":"{payload["t"]}","s":{payload["s"]},"d":{raw_data}}}'


class JsonText:
    def encode(self, payload: dict[str, Any], raw_data: str | None = None) -> str:
        return to_json(payload, raw_data)


class ZlibStream:
    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def encode(self, payload: dict[str, Any], raw_data: str | None = None) -> bytes:
        data = to_json(payload, raw_data).encode()
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStream:
    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(level=3).compressobj()

    def encode(self, payload: dict[str, Any], raw_data: str | None = None) -> bytes:
        data = to_json(payload, raw_data).encode()
        return self._compressor.compress(data) + self._compressor.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )


class UnsupportedTransportError(ValueError):
    pass


def encoder_for(encoding: str | None, compress: str | None) -> Encoder:
    """From the connection URL's ``encoding`` and ``compress`` parameters."""
    if encoding not in (None, "", "json"):
        raise UnsupportedTransportError(f"encoding {encoding!r} (only json is supported)")
    if compress in (None, ""):
        return JsonText()
    if compress == "zlib-stream":
        return ZlibStream()
    if compress == "zstd-stream":
        return ZstdStream()
    raise UnsupportedTransportError(f"compress {compress!r}")
