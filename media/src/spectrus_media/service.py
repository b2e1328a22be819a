"""A media node as one unit: the Rust packet router (UDP), the voice WebSocket (TLS) with
the browsers' WebRTC bridge, and the gRPC control service, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import grpc
import uvicorn

from spectrus_domain.config import Settings
from spectrus_media.bridge import WebRtcBridge
from spectrus_media.control import start_control
from spectrus_media.metrics import NODES
from spectrus_media.node import MediaNode
from spectrus_media.server import VoiceGateway
from spectrus_media.tls import ensure_certificate
from spectrus_media_native import MODES, VoiceRouter

log = logging.getLogger("spectrus.media")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """uvicorn serving beside another server in one process: it leaves signals to the
    process's main server (the owner stops it) and says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await self._serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class MediaService:
    """Binds everything in ``start`` (port 0 picks free ports, for tests) and reports
    where: ``endpoint`` for VOICE_SERVER_UPDATE, ``control`` for the gateway."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = ""
        self.control = ""
        self.ca_file: Path | None = None
        self.router: VoiceRouter | None = None
        self.node: MediaNode | None = None
        self.bridge: WebRtcBridge | None = None
        self._grpc: grpc.aio.Server | None = None
        self._web: _EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def udp_port(self) -> int:
        assert self.router is not None, "start() first"
        return self.router.address[1]

    async def start(self) -> None:
        s = self.settings
        bind = s.voice_host or s.host
        public = s.voice_public_host or bind
        tcp = _listen(bind, s.voice_port)
        port = tcp.getsockname()[1]
        # UDP on the same number as the WebSocket when it is free (one port to open).
        self.router = VoiceRouter(
            bind, s.voice_port and port, s.voice_threads or min(2, os.cpu_count() or 1)
        )
        self.endpoint = f"{public}:{port}" if ":" not in public else f"[{public}]:{port}"
        self.node = MediaNode(self.router, self.endpoint, public, MODES)
        NODES.nodes.add(self.node)
        self._grpc, control_port = await start_control(
            self.node, f"{s.host}:{s.media_control_port}"
        )
        self.control = f"{s.host}:{control_port}"
        if s.voice_tls_cert:
            cert, key = s.voice_tls_cert, s.voice_tls_key
        else:
            ca, crt, pem = ensure_certificate(
                s.data_dir / "voice", [public, "localhost", "127.0.0.1"]
            )
            self.ca_file, cert, key = ca, str(crt), str(pem)
        host, udp_port = self.router.address
        loopback = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        self.bridge = WebRtcBridge(self.node, loopback, udp_port)
        config = uvicorn.Config(
            VoiceGateway(self.node, self.bridge),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            ssl_certfile=cert,
            ssl_keyfile=key,
            ws_per_message_deflate=True,  # discord.py asks for it on the voice socket
            timeout_graceful_shutdown=5,
        )
        self._web = _EmbeddedServer(config)
        self._serving = asyncio.create_task(self._web.serve(sockets=[tcp]))
        ready = asyncio.create_task(self._web.ready.wait())
        await asyncio.wait({self._serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._serving  # raises what stopped it
            raise RuntimeError("the voice WebSocket server stopped while starting")
        log.info(
            "media: voice at wss://%s (udp %s), control %s",
            self.endpoint,
            self.router.address,
            self.control,
        )

    async def stop(self) -> None:
        if self.node is not None:
            NODES.nodes.discard(self.node)
        if self._web is not None and self._serving is not None:
            self._web.should_exit = True
            await self._serving
        if self.bridge is not None:
            await self.bridge.close()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self.router is not None:
            self.router.close()
