"""The media control contract: what the gateway asks a media node, and the answers.

gRPC carries it (service ``spectrus.media.v1.Media``, one unary method per request
below) with JSON bodies rather than protobuf: the messages are small and rare (one per
voice join, move or mute), and a shared dataclass keeps both sides in step without a
code generator. Nodes are chosen per guild by rendezvous hashing, so every member of a
guild's voice channels meets on one node, and adding a node moves only its share; a guild
that already has voice on a node stays there (``Locate``), and a draining node takes no
new guilds (``Drain``), so nodes can be added and retired under live calls.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

SERVICE = "spectrus.media.v1.Media"


@dataclass(frozen=True)
class Place:
    """Put a user in a voice room (join or move); the answer is a ``Placed``. The
    domain has already checked the join (permissions, the channel's user limit)."""

    guild_id: int
    channel_id: int
    user_id: int
    session_id: str
    mute: bool
    deaf: bool
    self_mute: bool
    self_deaf: bool
    may_speak: bool  # without SPEAK one's packets are dropped (suppressed)


@dataclass(frozen=True)
class Placed:
    token: str
    endpoint: str  # host:port of the voice WebSocket, as VOICE_SERVER_UPDATE carries it
    moved: bool  # the user's live voice connection moved rooms; no new handshake needed


@dataclass(frozen=True)
class Flags:
    """Server and self mute / deafen changed for a user already placed."""

    guild_id: int
    user_id: int
    mute: bool
    deaf: bool
    self_mute: bool
    self_deaf: bool
    may_speak: bool


@dataclass(frozen=True)
class Leave:
    """Take a user out of voice in a guild (they left, were kicked, or went offline)."""

    guild_id: int
    user_id: int


@dataclass(frozen=True)
class Done:
    existed: bool


@dataclass(frozen=True)
class Locate:
    """Does the node have voice for this guild (anyone placed there)? The answer is a
    ``Done``. Gateways ask before placing, so a guild's call never splits over nodes."""

    guild_id: int


@dataclass(frozen=True)
class Drain:
    """Start (or stop) draining: a draining node refuses to ``Place`` users of a guild it
    has no voice for (status FAILED_PRECONDITION, details "draining") and keeps serving
    the guilds it has. The answer is its ``NodeStats``."""

    draining: bool


@dataclass(frozen=True)
class Stats:
    pass


@dataclass(frozen=True)
class NodeStats:
    endpoint: str
    sessions: int  # voice connections carrying packets
    rooms: int  # voice channels with such a connection
    guilds: int  # guilds with anyone placed (connected or not): 0 means a drain is over
    draining: bool
    counters: dict[str, int]


METHODS: dict[str, tuple[type[Any], type[Any]]] = {
    "Place": (Place, Placed),
    "Flags": (Flags, Done),
    "Leave": (Leave, Done),
    "Locate": (Locate, Done),
    "Drain": (Drain, NodeStats),
    "Stats": (Stats, NodeStats),
}
DRAINING = "draining"
"""The status details of a Place refused by a draining node."""

T = TypeVar("T")


def encode(message: Any) -> bytes:
    return orjson.dumps(dataclasses.asdict(message))


def decoder(kind: type[T]) -> Any:
    """A gRPC deserializer for ``kind`` that rejects unknown or missing fields."""

    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]

    def decode(raw: bytes) -> T:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(f"{kind.__name__}: expected fields {sorted(names)}")
        return kind(**data)

    return decode


def rank_nodes(nodes: list[str], guild_id: int) -> list[str]:
    """The media nodes in rendezvous (highest random weight) order for a guild: the first
    is its home; when that one cannot take it, the next, and so on. Removing a node moves
    only its own guilds, each to the next in its order."""

    def weight(node: str) -> bytes:
        return hashlib.blake2b(f"{node}/{guild_id}".encode(), digest_size=8).digest()

    return sorted(nodes, key=weight, reverse=True)


def pick_node(nodes: list[str], guild_id: int) -> str:
    """The first node of ``rank_nodes``."""
    if not nodes:
        raise LookupError("no media node is configured")
    return rank_nodes(nodes, guild_id)[0]
