"""Spectrus voice SFU packet path (Rust): UDP sockets, AEAD, replay window, fan-out.

Python decides who is in which room with which key; the receive threads move the packets
without the GIL. Room id 0 means "in no room": such a session's packets are counted as
``dropped_not_in_room`` and it hears nothing.
"""

from types import TracebackType

MODES: tuple[str, ...]
"""Supported encryption modes in server preference order:
``("aead_aes256_gcm_rtpsize", "aead_xchacha20_poly1305_rtpsize")``."""

MAX_DATAGRAM: int
"""Largest datagram routed; larger ones count as ``dropped_oversize``."""

class RoomFull(Exception):  # noqa: N818 -- the name other services code against
    """The room already holds as many sessions as its limit allows."""

class VoiceRouter:
    """A voice packet router bound to one UDP port.

    Every method except ``close()``, ``__exit__`` and ``counters()`` raises ``RuntimeError``
    once the router is closed. If a receive thread panics, every method except ``close()``
    raises ``RuntimeError`` naming the panic from then on.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, threads: int = 1) -> None:
        """Bind ``threads`` sockets on ``host:port`` (port 0 = ephemeral; more than one
        thread shares the port with ``SO_REUSEPORT``) and start their receive threads.

        Raises ``ValueError`` for ``threads`` outside 1..64 and ``OSError`` if binding fails.
        """

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""

    def add_session(self, session_id: int, ssrc: int, room_id: int, mode: str, key: bytes) -> None:
        """Add a session. Its address is bound by IP discovery or its first authentic packet.

        Raises ``ValueError`` for an unknown mode, a key that is not 32 bytes, or a
        session id or SSRC already in use; ``RoomFull`` if the room is at its limit;
        ``OverflowError`` for ids outside u64 or an SSRC outside u32.
        """

    def set_mode(self, session_id: int, mode: str, key: bytes) -> None:
        """Replace the session's mode and key (SELECT_PROTOCOL chose another mode, or the
        key rotates), keeping its SSRC, room, flags and bound address.

        Raises ``ValueError`` for an unknown mode or a key that is not 32 bytes,
        ``KeyError`` for an unknown session.
        """

    def remove_session(self, session_id: int) -> bool:
        """Remove a session, freeing its SSRC at once. False if it was unknown."""

    def move_session(self, session_id: int, room_id: int) -> None:
        """Move a session to another room (0 = none); a no-op if it is there already.

        Raises ``KeyError`` for an unknown session, ``RoomFull`` if the room is at its limit.
        """

    def set_flags(self, session_id: int, *, muted: bool, deafened: bool) -> None:
        """Server mute (its packets are dropped) and deafen (it is sent nothing).

        Raises ``KeyError`` for an unknown session.
        """

    def set_room_limit(self, room_id: int, limit: int) -> None:
        """Cap the sessions later add/move calls may put in a room; 0 = unlimited.
        Sessions already there stay."""

    def session_address(self, session_id: int) -> tuple[str, int] | None:
        """Where the session's packets come from and its audio goes; None if not bound
        yet or if the session is unknown."""

    def session_idle(self, session_id: int) -> float | None:
        """Seconds since the session's last authentic, fresh packet; None if none yet.

        Raises ``KeyError`` for an unknown session.
        """

    def counters(self) -> dict[str, int]:
        """Every counter, always all keys: ``received``, ``accepted``, ``forwarded``,
        ``undeliverable``, ``ip_discovery``, ``keepalive``, ``keepalive_echoed``, ``rtcp``,
        ``dropped_<reason>`` for every reason (``truncated``, ``oversize``, ``not_rtp``,
        ``unknown_ssrc``, ``auth_failed``, ``replayed``, ``too_old``, ``far_future``,
        ``muted``, ``not_in_room``), ``send_errors`` and ``recv_errors``.

        Updated once per received batch, before that batch's datagrams are sent. Still
        answers after ``close()``, with the final totals.
        """

    def close(self) -> None:
        """Stop and join the receive threads and close the sockets. Idempotent."""

    def __enter__(self) -> VoiceRouter: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
