"""The native voice router over real UDP sockets on 127.0.0.1.

Packets are built and opened with PyNaCl (XChaCha20-Poly1305, as discord.py does) and
`cryptography` (AES-256-GCM), independently of the Rust code under test. Every wait is a
bounded poll on a received datagram or a counter.
"""

from __future__ import annotations

import gc
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

import spectrus_media_native as native
from spectrus_media_native import MODES, RoomFull, VoiceRouter

AES = "aead_aes256_gcm_rtpsize"
XCHACHA = "aead_xchacha20_poly1305_rtpsize"
ROOM = 42
TIMEOUT = 5.0


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def seal(mode: str, key: bytes, aad: bytes, plaintext: bytes, counter: int) -> bytes:
    """A `*_rtpsize` datagram: AAD, ciphertext and tag, then the 4-byte big-endian counter."""
    suffix = struct.pack(">I", counter)
    if mode == XCHACHA:
        body = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, suffix + bytes(20), key)
    else:
        body = AESGCM(key).encrypt(suffix + bytes(8), plaintext, aad)
    return aad + body + suffix


def aad_length(datagram: bytes) -> int:
    csrc_count = datagram[0] & 0x0F
    extension = 4 if datagram[0] & 0x10 else 0
    return 12 + 4 * csrc_count + extension


def unseal(mode: str, key: bytes, datagram: bytes) -> tuple[bytes, bytes, int]:
    """Opens a datagram; returns (AAD, plaintext, counter)."""
    n = aad_length(datagram)
    aad, body, suffix = datagram[:n], datagram[n:-4], datagram[-4:]
    if mode == XCHACHA:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad, suffix + bytes(20), key)
    else:
        plain = AESGCM(key).decrypt(suffix + bytes(8), body, aad)
    return aad, plain, struct.unpack(">I", suffix)[0]


class Client:
    """A voice client: its own UDP socket, SSRC, key, mode and nonce counter."""

    def __init__(self, router: VoiceRouter, session_id: int, room: int, mode: str) -> None:
        self.router = router
        self.id = session_id
        self.ssrc = 0x1000 + session_id
        self.mode = mode
        self.key = os.urandom(32)
        self.counter = 0
        self.sequence = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        router.add_session(session_id, self.ssrc, room, mode, self.key)

    def header(self, ssrc: int | None = None) -> bytes:
        # What discord.py writes: version 2, payload type 0x78 (Opus).
        ts = self.sequence * 960
        return struct.pack(">BBHII", 0x80, 0x78, self.sequence & 0xFFFF, ts, ssrc or self.ssrc)

    def packet(self, payload: bytes) -> bytes:
        datagram = seal(self.mode, self.key, self.header(), payload, self.counter)
        self.counter += 1
        self.sequence += 1
        return datagram

    def packet_at(self, payload: bytes, counter: int) -> bytes:
        return seal(self.mode, self.key, self.header(), payload, counter)

    def send(self, datagram: bytes) -> None:
        self.sock.sendto(datagram, self.router.address)

    def discover(self) -> tuple[str, int]:
        request = struct.pack(">HHI", 1, 70, self.ssrc) + bytes(66)
        self.send(request)
        answer = self.recv()
        assert answer is not None, "no IP discovery answer"
        # Parsed the way discord.py's discover_ip does.
        assert answer[1] == 0x02 and len(answer) == 74
        ip = answer[8 : answer.index(0, 8)].decode("ascii")
        (port,) = struct.unpack_from(">H", answer, len(answer) - 2)
        return ip, port

    def recv(self, timeout: float = TIMEOUT) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            return None

    def hear(self, sender: Client) -> bytes:
        """Receives one relayed datagram and opens it with this client's key."""
        datagram = self.recv()
        assert datagram is not None, f"session {self.id} heard nothing"
        aad, plain, _ = unseal(self.mode, self.key, datagram)
        assert struct.unpack_from(">I", aad, 8)[0] == sender.ssrc
        return plain

    def hears_nothing(self) -> bool:
        """True if nothing is waiting. Call only after the router has counted the packets
        in question: counters are updated before a batch's datagrams are sent."""
        return self.recv(timeout=0.05) is None

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def router() -> Iterator[VoiceRouter]:
    with VoiceRouter() as r:
        yield r


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def join(made: list[Client], router: VoiceRouter, session_id: int, room: int, mode: str) -> Client:
    c = Client(router, session_id, room, mode)
    made.append(c)
    return c


def wait_received(router: VoiceRouter, total: int) -> dict[str, int]:
    wait_until(f"{total} datagrams counted", lambda: router.counters()["received"] >= total)
    counters = router.counters()
    assert counters["received"] == total
    return counters


def send_paced(router: VoiceRouter, client: Client, datagrams: list[bytes]) -> None:
    """Sends many datagrams without outrunning the router's socket buffer: after every 64,
    waits until the router has counted them."""
    start = router.counters()["received"]
    for i, datagram in enumerate(datagrams, 1):
        client.send(datagram)
        if i % 64 == 0 or i == len(datagrams):
            wait_received(router, start + i)


def rx_threads() -> list[str]:
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except FileNotFoundError:
            continue  # the thread ended while we looked
    return [n for n in names if n.startswith("voice-rx")]


def test_modes_in_preference_order() -> None:
    assert MODES == (AES, XCHACHA)
    assert native.MAX_DATAGRAM >= 1500


@pytest.mark.parametrize("mode_b", MODES)
@pytest.mark.parametrize("mode_a", MODES)
def test_two_sessions_talk_both_ways(
    router: VoiceRouter, clients: list[Client], mode_a: str, mode_b: str
) -> None:
    a = join(clients, router, 1, ROOM, mode_a)
    b = join(clients, router, 2, ROOM, mode_b)
    a.discover()
    b.discover()
    for i in range(3):
        a.send(a.packet(b"from a %d" % i))
        assert b.hear(a) == b"from a %d" % i
    b.send(b.packet(b"from b"))
    assert a.hear(b) == b"from b"
    counters = router.counters()
    assert counters["forwarded"] == 4
    assert counters["accepted"] == 4
    assert counters["ip_discovery"] == 2


def test_ip_discovery_reports_the_observed_address(
    router: VoiceRouter, clients: list[Client]
) -> None:
    a = join(clients, router, 1, ROOM, XCHACHA)
    assert router.session_address(a.id) is None
    assert a.discover() == a.address
    assert router.session_address(a.id) == a.address
    assert router.session_address(999) is None

    # Discovery from another socket is answered but does not steal the session.
    thief = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with thief:
        thief.bind(("127.0.0.1", 0))
        thief.settimeout(TIMEOUT)
        thief.sendto(struct.pack(">HHI", 1, 70, a.ssrc) + bytes(66), router.address)
        assert len(thief.recv(100)) == 74
    assert router.session_address(a.id) == a.address


def test_every_hostile_packet_is_dropped_and_counted(
    router: VoiceRouter, clients: list[Client]
) -> None:
    a = join(clients, router, 1, ROOM, XCHACHA)
    b = join(clients, router, 2, ROOM, AES)
    mallory = join(clients, router, 3, ROOM + 1, XCHACHA)
    for c in (a, b, mallory):
        c.discover()
    sent = 3

    a.send(a.packet(b"hello"))
    sent += 1
    assert b.hear(a) == b"hello"

    # Every single-bit flip of a fresh packet: header/AAD, ciphertext, tag, nonce suffix.
    genuine = a.packet(b"twenty bytes of opus")
    flips = []
    for bit in range(len(genuine) * 8):
        flipped = bytearray(genuine)
        flipped[bit // 8] ^= 1 << (bit % 8)
        flips.append(bytes(flipped))
    send_paced(router, a, flips)
    sent += len(flips)
    counters = wait_received(router, sent)
    assert counters["forwarded"] == 1
    dropped = sum(v for k, v in counters.items() if k.startswith("dropped_"))
    assert dropped + counters["rtcp"] == len(genuine) * 8
    assert counters["dropped_auth_failed"] > len(genuine) * 8 * 0.9
    assert b.hears_nothing()

    # The genuine packet still passes: no flip moved the replay window.
    a.send(genuine)
    assert b.hear(a) == b"twenty bytes of opus"
    # ...once.
    a.send(genuine)
    sent += 2
    assert wait_received(router, sent)["dropped_replayed"] == 1

    # Mallory claims a's SSRC from her own address, sealed with her own valid key.
    mallory.send(seal(mallory.mode, mallory.key, a.header(), b"impostor", 0))
    sent += 1
    assert wait_received(router, sent)["dropped_auth_failed"] == counters["dropped_auth_failed"] + 1
    assert router.session_address(a.id) == a.address

    # A forged far-future packet, then the real next ones.
    a.send(seal(a.mode, os.urandom(32), a.header(), b"forged", a.counter + 10_000_000))
    a.send(a.packet(b"real 1"))
    a.send(a.packet(b"real 2"))
    sent += 3
    assert b.hear(a) == b"real 1"
    assert b.hear(a) == b"real 2"

    # An authentic far-future jump is dropped too, and blocks nothing.
    a.send(a.packet_at(b"too far", a.counter + 70_000))
    a.send(a.packet(b"real 3"))
    sent += 2
    assert b.hear(a) == b"real 3"
    counters = wait_received(router, sent)
    assert counters["dropped_far_future"] == 1

    # Too old: left of the 1024-wide window.
    send_paced(router, a, [a.packet(b"x") for _ in range(1100)])
    sent += 1100
    a.send(a.packet_at(b"ancient", 5))
    sent += 1
    assert wait_received(router, sent)["dropped_too_old"] == 1

    # Mallory speaks: she is authentic but not in a's room, so a and b hear nothing.
    before = router.counters()
    router.move_session(mallory.id, 0)
    mallory.send(mallory.packet(b"nobody hears me"))
    # An unknown SSRC, and junk that is not RTP.
    a.send(seal(XCHACHA, a.key, a.header(ssrc=0xDEAD), b"?", 0))
    a.send(b"\x00" * 40)
    a.send(b"\x80\x78")
    sent += 4
    counters = wait_received(router, sent)
    for reason in ("not_in_room", "unknown_ssrc", "not_rtp", "truncated"):
        key = f"dropped_{reason}"
        assert counters[key] == before[key] + 1, key
    while b.recv(timeout=0.2) is not None:
        pass  # the 1100 relayed packets
    assert a.hears_nothing()


def test_rtcp_keepalive_and_oversize(router: VoiceRouter, clients: list[Client]) -> None:
    a = join(clients, router, 1, ROOM, AES)
    a.discover()
    rtcp = bytearray(a.packet(b"report"))
    rtcp[1] = 201
    a.send(bytes(rtcp))
    keepalive = struct.pack("<II", 7, 0)  # @discordjs/voice's keep-alive
    a.send(keepalive)
    assert a.recv() == keepalive, "keep-alives from a bound address are echoed"
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with stranger:
        stranger.sendto(keepalive, router.address)
        stranger.sendto(bytes(native.MAX_DATAGRAM + 1), router.address)
        counters = wait_received(router, 5)
    assert counters["rtcp"] == 1
    assert counters["keepalive"] == 2
    assert counters["keepalive_echoed"] == 1
    assert counters["dropped_oversize"] == 1


def test_mute_and_deafen(router: VoiceRouter, clients: list[Client]) -> None:
    a = join(clients, router, 1, ROOM, XCHACHA)
    b = join(clients, router, 2, ROOM, XCHACHA)
    a.discover()
    b.discover()
    router.set_flags(a.id, muted=True, deafened=False)
    a.send(a.packet(b"muted"))
    assert wait_received(router, 3)["dropped_muted"] == 1
    assert b.hears_nothing()

    router.set_flags(a.id, muted=False, deafened=False)
    router.set_flags(b.id, muted=False, deafened=True)
    a.send(a.packet(b"to the deaf"))
    assert wait_received(router, 4)["accepted"] == 1
    assert b.hears_nothing()
    # A deafened session may still speak.
    b.send(b.packet(b"deaf but talking"))
    assert a.hear(b) == b"deaf but talking"

    router.set_flags(b.id, muted=False, deafened=False)
    a.send(a.packet(b"heard"))
    assert b.hear(a) == b"heard"
    with pytest.raises(KeyError):
        router.set_flags(999, muted=True, deafened=True)


def test_move_session_changes_who_hears(router: VoiceRouter, clients: list[Client]) -> None:
    a, b, c = (join(clients, router, i, ROOM, MODES[i % 2]) for i in (1, 2, 3))
    for x in (a, b, c):
        x.discover()
    a.send(a.packet(b"all"))
    assert b.hear(a) == b"all"
    assert c.hear(a) == b"all"

    router.move_session(c.id, ROOM + 1)
    a.send(a.packet(b"only b"))
    assert b.hear(a) == b"only b"
    wait_received(router, 5)
    assert c.hears_nothing()

    router.move_session(b.id, ROOM + 1)
    b.send(b.packet(b"b to c"))
    assert c.hear(b) == b"b to c"
    wait_received(router, 6)
    assert a.hears_nothing()
    with pytest.raises(KeyError):
        router.move_session(999, ROOM)


def test_room_limit(router: VoiceRouter) -> None:
    key = bytes(32)
    router.set_room_limit(ROOM, 2)
    router.add_session(1, 11, ROOM, AES, key)
    router.add_session(2, 12, ROOM, AES, key)
    with pytest.raises(RoomFull):
        router.add_session(3, 13, ROOM, AES, key)
    router.add_session(3, 13, ROOM + 1, AES, key)
    with pytest.raises(RoomFull):
        router.move_session(3, ROOM)
    router.move_session(2, ROOM)  # already there
    router.set_room_limit(ROOM, 0)
    router.move_session(3, ROOM)
    assert issubclass(RoomFull, Exception)


def test_control_errors(router: VoiceRouter) -> None:
    key = bytes(32)
    with pytest.raises(ValueError, match="unknown encryption mode"):
        router.add_session(1, 11, ROOM, "xsalsa20_poly1305", key)
    with pytest.raises(ValueError, match="32 bytes"):
        router.add_session(1, 11, ROOM, AES, bytes(16))
    router.add_session(1, 11, ROOM, AES, key)
    with pytest.raises(ValueError, match="session id 1"):
        router.add_session(1, 12, ROOM, AES, key)
    with pytest.raises(ValueError, match="ssrc 11"):
        router.add_session(2, 11, ROOM, AES, key)
    with pytest.raises(OverflowError):
        router.add_session(3, 2**32, ROOM, AES, key)
    assert router.remove_session(1) is True
    assert router.remove_session(1) is False
    router.add_session(2, 11, ROOM, XCHACHA, key)  # the SSRC is free again
    with pytest.raises(ValueError, match="threads"):
        VoiceRouter(threads=0)


def test_session_idle(router: VoiceRouter, clients: list[Client]) -> None:
    a = join(clients, router, 1, 0, AES)
    assert router.session_idle(a.id) is None
    a.send(a.packet(b"x"))
    wait_received(router, 1)
    idle = router.session_idle(a.id)
    assert idle is not None
    assert 0 <= idle < TIMEOUT
    with pytest.raises(KeyError):
        router.session_idle(999)


def test_reuseport_threads_share_the_port(clients: list[Client]) -> None:
    with VoiceRouter(threads=3) as router:
        wait_until("three receive threads", lambda: len(rx_threads()) == 3)
        speakers = [join(clients, router, i, ROOM, MODES[i % 2]) for i in range(1, 7)]
        for s in speakers:
            assert s.discover() == s.address
        for s in speakers:
            s.send(s.packet(b"hi from %d" % s.id))
        for listener in speakers:
            heard = {listener.recv() for _ in range(5)}
            assert None not in heard
        assert router.counters()["forwarded"] == 6 * 5
    assert rx_threads() == []


def test_close_joins_threads_and_later_calls_raise() -> None:
    before = len(rx_threads())
    router = VoiceRouter(threads=2)
    # A new thread takes its name a moment after it starts.
    wait_until("two receive threads", lambda: len(rx_threads()) == before + 2)
    router.add_session(1, 11, ROOM, AES, bytes(32))
    router.close()
    assert len(rx_threads()) == before
    router.close()  # idempotent
    for call in (
        lambda: router.address,
        lambda: router.add_session(2, 12, ROOM, AES, bytes(32)),
        lambda: router.remove_session(1),
        lambda: router.move_session(1, 2),
        lambda: router.set_flags(1, muted=True, deafened=False),
        lambda: router.set_room_limit(ROOM, 1),
        lambda: router.session_address(1),
        lambda: router.session_idle(1),
        router.__enter__,
    ):
        with pytest.raises(RuntimeError, match="closed"):
            call()
    # The final totals stay readable.
    assert router.counters()["received"] == 0


def test_context_manager_and_garbage_collection_stop_threads() -> None:
    with VoiceRouter(threads=2) as router:
        host, port = router.address
        assert host == "127.0.0.1" and port > 0
    assert rx_threads() == []
    VoiceRouter(threads=2)  # dropped at once, never closed
    gc.collect()
    wait_until("unreferenced router's threads to stop", lambda: rx_threads() == [])
    # The port is free again.
    with VoiceRouter(port=port) as again:
        assert again.address == (host, port)
