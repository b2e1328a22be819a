"""The voice WebSocket (Discord voice gateway v8) as an ASGI app: a thin shell that feeds
frames and time to ``VoiceConnection`` and carries its requests to the ``MediaNode``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from spectrus_domain.metrics import metrics_app
from spectrus_media.bridge import OfferError, WebRtcBridge
from spectrus_media.node import MediaNode, VoiceSession
from spectrus_media.protocol import (
    CLOSE_REASONS,
    Close,
    CloseConnection,
    Identify,
    Resume,
    SelectProtocol,
    Speaking,
    VoiceConnection,
)
from spectrus_media.protocol import (
    Send as SendFrame,
)

log = logging.getLogger("spectrus.media")

SEND_QUEUE = 256  # a client this far behind on a low-rate control socket is gone
SEND_TIMEOUT = 5.0
MAX_OFFER_BYTES = 64 * 1024


class _Link:
    """The WebSocket as the node sees it: messages queue here and a writer sends them."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | CloseConnection] = asyncio.Queue(SEND_QUEUE)

    def send(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close(Close.SESSION_TIMEOUT)

    def close(self, code: Close) -> None:
        self.finish(CloseConnection(int(code), CLOSE_REASONS[code]))

    def finish(self, close: CloseConnection) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(close)


class VoiceGateway:
    """ASGI callable serving the voice WebSocket at any path (clients dial ``/?v=8``),
    ``GET /healthz`` (with the drain state), ``GET /metrics`` (Prometheus) and, with a
    bridge, browsers' WebRTC offers at ``POST /webrtc``."""

    def __init__(self, node: MediaNode, bridge: WebRtcBridge | None = None) -> None:
        self.node = node
        self.bridge = bridge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        link = _Link()
        writer = asyncio.create_task(self._write(link, send))
        session: VoiceSession | None = None
        conn = VoiceConnection(now=time.monotonic(), modes=self.node.modes)
        try:
            while True:
                session = self._pump(conn, link, session)
                if conn.closed:  # deliver the close frame, then wait for the peer's reply
                    await asyncio.wait_for(writer, SEND_TIMEOUT)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(SEND_TIMEOUT):
                            while (await receive())["type"] != "websocket.disconnect":
                                pass
                    break
                try:
                    timeout = max(0.0, conn.deadline() - time.monotonic())
                    message = await asyncio.wait_for(receive(), timeout)
                except TimeoutError:
                    conn.check(time.monotonic())
                    continue
                if message["type"] == "websocket.disconnect":
                    break
                frame = message.get("text")
                conn.receive(
                    frame if frame is not None else message.get("bytes") or b"", time.monotonic()
                )
        finally:
            writer.cancel()
            if session is not None:
                self.node.detach(session, link)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /webrtc``: the browser's offer in, the answer out. Cross-origin by design
        (the web client is served by the API); the placement token is the credential."""
        cors = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", b"content-type"),
        ]
        if scope["path"] == "/healthz" and scope["method"] == "GET":
            # Still 200 while draining: the node serves its calls until they end. The body
            # tells probes and people how far a drain is.
            stats = self.node.stats()
            health = {
                "status": "ok",
                "draining": stats.draining,
                "sessions": stats.sessions,
                "guilds": stats.guilds,
            }
            await _respond(send, 200, health, cors)
            return
        if scope["path"] == "/metrics":  # Prometheus scrapes the node here, over TLS
            await metrics_app(scope, receive, send)
            return
        if scope["path"] != "/webrtc" or self.bridge is None:
            await _respond(send, 404, {"message": "voice WebSocket only"}, cors)
            return
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, None, cors)
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"message": "POST an offer"}, cors)
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_OFFER_BYTES:
                await _respond(send, 413, {"message": "offer too large"}, cors)
                return
            if not message.get("more_body"):
                break
        try:
            offer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            await _respond(send, 400, {"message": f"the body is not JSON: {exc}"}, cors)
            return
        try:
            if not isinstance(offer, dict):
                raise OfferError("a JSON object is expected")
            answer = await self.bridge.answer(offer)
        except OfferError as exc:
            await _respond(send, 400, {"message": str(exc)}, cors)
            return
        await _respond(send, 200, answer, cors)

    def _pump(
        self, conn: VoiceConnection, link: _Link, session: VoiceSession | None
    ) -> VoiceSession | None:
        # Answering a request can produce more outputs (a failed login closes): drain.
        while outputs := conn.take():
            for output in outputs:
                if isinstance(output, SendFrame):
                    link.send(output.text)
                elif isinstance(output, CloseConnection):
                    link.finish(output)
                elif isinstance(output, Identify):
                    session = self.node.identify(
                        link, output.server_id, output.user_id, output.session_id, output.token
                    )
                    self._login_answer(conn, session)
                elif isinstance(output, Resume):
                    session = self.node.resume(
                        link, output.server_id, output.session_id, output.token, output.seq_ack
                    )
                    self._login_answer(conn, session, failure=Close.SESSION_INVALID)
                elif session is not None and isinstance(output, SelectProtocol):
                    self.node.select(session, output.mode)
                elif session is not None and isinstance(output, Speaking):
                    self.node.speaking(session, output.speaking)
        return session

    @staticmethod
    def _login_answer(
        conn: VoiceConnection,
        session: VoiceSession | None,
        failure: Close = Close.AUTHENTICATION_FAILED,
    ) -> None:
        if session is None:
            conn.fail(failure)
        else:
            conn.accepted()

    @staticmethod
    async def _write(link: _Link, send: Send) -> None:
        while True:
            item = await link.queue.get()
            if isinstance(item, CloseConnection):
                with contextlib.suppress(Exception):
                    await send(
                        {"type": "websocket.close", "code": item.code, "reason": item.reason}
                    )
                return
            try:
                await send({"type": "websocket.send", "text": item})
            except Exception:  # the peer went away; the reader sees the disconnect
                return


async def _respond(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    payload = b"" if body is None else orjson.dumps(body)
    kind = [(b"content-type", b"application/json")] if body is not None else []
    await send({"type": "http.response.start", "status": status, "headers": headers + kind})
    await send({"type": "http.response.body", "body": payload})
