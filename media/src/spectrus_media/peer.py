"""A voice UDP peer in Python: IP discovery, then Opus frames sealed and opened in the
``aead_aes256_gcm_rtpsize`` mode, exactly as a native client does it.

The WebRTC bridge uses it to meet the Rust router as one more session (a browser's
packets are few next to the router's load, and this keeps the router free of a second,
in-process path); tests use it to play both sides of the wire.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MODE = "aead_aes256_gcm_rtpsize"
RTP_HEADER = struct.Struct(">BBHII")
DISCOVERY = struct.Struct(">HHI64sH")
OPUS_PAYLOAD_TYPE = 0x78
FRAME_SAMPLES = 960  # 20 ms at 48 kHz


@dataclass(frozen=True)
class Frame:
    ssrc: int
    sequence: int
    timestamp: int
    payload: bytes


def discovery_request(ssrc: int) -> bytes:
    return DISCOVERY.pack(1, 70, ssrc, b"", 0)


def parse_discovery(packet: bytes) -> tuple[str, int]:
    kind, length, _ssrc, address, port = DISCOVERY.unpack(packet)
    if kind != 2 or length != 70:
        raise ValueError("not an IP discovery answer")
    return address.split(b"\0", 1)[0].decode("ascii"), port


class Sealer:
    """Seals outgoing frames with a 32-bit counter nonce, opens incoming ones."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._counter = 0

    def seal(self, header: bytes, payload: bytes) -> bytes:
        counter = self._counter.to_bytes(4, "big")
        self._counter = (self._counter + 1) & 0xFFFFFFFF
        return header + self._aead.encrypt(counter + bytes(8), payload, header) + counter

    def open(self, packet: bytes) -> Frame | None:
        if len(packet) < RTP_HEADER.size + 16 + 4 or packet[0] >> 6 != 2:
            return None
        first, second, sequence, timestamp, ssrc = RTP_HEADER.unpack_from(packet)
        if 72 <= second & 0x7F <= 76:
            return None  # RTCP
        end = RTP_HEADER.size + 4 * (first & 0x0F)
        extended = bool(first & 0x10)
        if extended:
            end += 4
        try:
            plain = self._aead.decrypt(packet[-4:] + bytes(8), packet[end:-4], packet[:end])
        except Exception:
            return None
        if extended:  # the extension body is encrypted: skip it
            words = struct.unpack_from(">H", packet, end - 2)[0]
            plain = plain[4 * words :]
        return Frame(ssrc, sequence, timestamp, plain)


class VoicePeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sealer: Sealer | None = None
        self.frames: asyncio.Queue[Frame] = asyncio.Queue(1024)
        self._discovered: asyncio.Future[tuple[str, int]] | None = None
        self.sequence = 0
        self.timestamp = 0
        self.ssrc = 0

    @classmethod
    async def connect(cls, host: str, port: int, ssrc: int) -> tuple[VoicePeer, tuple[str, int]]:
        """Open a socket to the router and run IP discovery; returns the peer and the
        address the router saw."""
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(cls, remote_addr=(host, port))
        peer.ssrc = ssrc
        peer._discovered = loop.create_future()
        assert peer.transport is not None
        peer.transport.sendto(discovery_request(ssrc))
        return peer, await asyncio.wait_for(peer._discovered, 5)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
        if len(data) == DISCOVERY.size and data[:2] == b"\x00\x02":
            if self._discovered is not None and not self._discovered.done():
                self._discovered.set_result(parse_discovery(data))
            return
        frame = self.sealer.open(data) if self.sealer is not None else None
        if frame is not None and not self.frames.full():
            self.frames.put_nowait(frame)

    def send(self, payload: bytes, timestamp: int | None = None) -> None:
        """One Opus frame. Its RTP timestamp is ``timestamp`` when the caller keeps the
        timeline (a relayed stream, whose gaps are silence); else 20 ms after the last."""
        if self.transport is None or self.sealer is None:
            raise RuntimeError("send needs the discovery done and a key (SESSION_DESCRIPTION)")
        if timestamp is not None:
            self.timestamp = timestamp & 0xFFFFFFFF
        header = RTP_HEADER.pack(0x80, OPUS_PAYLOAD_TYPE, self.sequence, self.timestamp, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self.transport.sendto(self.sealer.seal(header, payload))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
