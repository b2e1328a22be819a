"""The gateway's client of the media nodes' control service (``spectrus_domain.voice``):
which node serves a guild's voice, and the calls that place, update and remove users.

The nodes come from a fixed list (``SPECTRUS_MEDIA_NODES``) or from a file
(``SPECTRUS_MEDIA_NODES_FILE``) that the Kubernetes operator rewrites as nodes come and
go, some marked ``draining`` before they are retired. A guild's call must never split
over two nodes, so placing first asks every node whether it already hosts the guild
(``Locate``) and goes there; only a guild with no voice anywhere is placed by rendezvous
order, skipping draining nodes and moving on from nodes that refuse or are down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from opentelemetry.trace import SpanKind

from spectrus_domain import tracing, voice

log = logging.getLogger("spectrus.gateway.media")

CALL_TIMEOUT = 5.0
LOCATE_TIMEOUT = 1.0  # an answer later than this is as good as "not here"
FILE_CHECK_INTERVAL = 1.0
# Refusals that mean "this node will not take it now, another may": a draining node,
# or one that cannot be reached (the call certainly did not happen there).
_TRY_NEXT = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE)


@dataclass(frozen=True)
class ListedNode:
    address: str  # host:port of the node's control service
    draining: bool = False


class NodeSource(Protocol):
    def nodes(self) -> Sequence[ListedNode]: ...


_PORT = re.compile(r"^[0-9]{1,5}$")


def _valid_address(address: str) -> bool:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not _PORT.match(port) or not 0 < int(port) < 65536:
        return False
    if host.startswith("["):  # an IPv6 literal, as in [::1]:8444
        return host.endswith("]") and len(host) > 2
    return ":" not in host and "]" not in host


def parse_nodes(text: str, source: str = "media nodes") -> list[ListedNode]:
    """One node a line: ``host:port``, optionally followed by whitespace and ``draining``.
    ``#`` starts a comment; blank lines are ignored. A line that is none of this is
    logged and skipped: one typo must not take every node away."""
    found: dict[str, ListedNode] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        address, flags = words[0], words[1:]
        if not _valid_address(address) or flags not in ([], ["draining"]):
            log.warning("%s line %d ignored: not 'host:port [draining]': %r", source, number, raw)
            continue
        if address in found:
            log.warning("%s line %d ignored: %s is listed above", source, number, address)
            continue
        found[address] = ListedNode(address, draining=bool(flags))
    return list(found.values())


class StaticNodes:
    def __init__(self, addresses: Sequence[str]) -> None:
        self._nodes = [ListedNode(a) for a in addresses]

    def nodes(self) -> Sequence[ListedNode]:
        return self._nodes


class NodesFile:
    """The node list in a file, re-read when it changes.

    Kubernetes mounts a ConfigMap key as a symlink and updates it by swapping the link to
    a new file, so a change shows as another inode (or mtime) of the path followed through
    its links; that is looked at no more than once per ``check_every`` seconds."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_every: float = FILE_CHECK_INTERVAL,
    ) -> None:
        self.path = path
        self._clock = clock
        self._check_every = check_every
        self._checked: float | None = None
        self._seen: tuple[int, int, int, int] | None = None
        self._missing = False
        self._nodes: list[ListedNode] = []

    def nodes(self) -> Sequence[ListedNode]:
        now = self._clock()
        if self._checked is not None and now - self._checked < self._check_every:
            return self._nodes
        self._checked = now
        try:
            # Before reading: a swap between the two is then seen at the next check.
            st = os.stat(self.path)
            seen = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            if seen == self._seen:
                return self._nodes
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            if not self._missing:
                log.warning("cannot read media nodes from %s (%s): no media nodes", self.path, exc)
            self._missing, self._seen, self._nodes = True, None, []
            return self._nodes
        self._missing, self._seen = False, seen
        self._nodes = parse_nodes(text, str(self.path))
        log.info(
            "media nodes from %s: %s",
            self.path,
            ", ".join(n.address + (" (draining)" if n.draining else "") for n in self._nodes)
            or "none",
        )
        return self._nodes


class MediaNodes:
    def __init__(
        self, source: Sequence[str] | NodeSource, *, locate_timeout: float = LOCATE_TIMEOUT
    ) -> None:
        self.source: NodeSource = StaticNodes(source) if isinstance(source, Sequence) else source
        self.locate_timeout = locate_timeout
        self._channels: dict[str, grpc.aio.Channel] = {}
        # Where this gateway placed whom (guild -> user -> node), so mutes and leaves go
        # to the node that holds the user even after the node list changed.
        self._placed: dict[int, dict[int, str]] = {}

    async def place(self, request: voice.Place) -> voice.Placed | None:
        """Place the user on the node hosting the guild's voice, or on the first node in
        rendezvous order that takes a new guild. None when there is no media node at all
        (the voice state is recorded; no audio flows)."""
        listed = self.source.nodes()
        if not listed:
            return None
        guild_id = request.guild_id
        order = await self._hosting(guild_id, listed) if len(listed) > 1 else []
        ranked = voice.rank_nodes([n.address for n in listed if not n.draining], guild_id)
        order += [a for a in ranked if a not in order]
        if not order:
            raise LookupError(f"no media node takes guild {guild_id}: every one is draining")
        refused: grpc.aio.AioRpcError | None = None
        for address in order:
            try:
                placed: voice.Placed = await self._call(address, "Place", request)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _TRY_NEXT:
                    raise
                log.info(
                    "media node %s did not take guild %d (%s %s); trying the next",
                    address,
                    guild_id,
                    exc.code().name,
                    exc.details(),
                )
                refused = exc
                continue
            self._placed.setdefault(guild_id, {})[request.user_id] = address
            return placed
        assert refused is not None
        raise refused

    async def flags(self, request: voice.Flags) -> bool:
        address = await self._holder(request.guild_id, request.user_id)
        if address is None:
            return False
        done: voice.Done = await self._call(address, "Flags", request)
        return done.existed

    async def leave(self, guild_id: int, user_id: int) -> bool:
        address = await self._holder(guild_id, user_id)
        placed = self._placed.get(guild_id)
        if placed is not None:
            placed.pop(user_id, None)
            if not placed:
                del self._placed[guild_id]
        if address is None:
            return False
        try:
            done: voice.Done = await self._call(address, "Leave", voice.Leave(guild_id, user_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            # A node that is gone holds nobody; leaving must still clear the voice state.
            log.warning("media node %s unreachable for a leave (%s)", address, exc.details())
            return False
        return done.existed

    async def stats(self) -> list[dict[str, Any]]:
        """Each listed node's own account of itself (for ``/diag``); a node that does not
        answer is listed as unreachable."""

        async def ask(node: ListedNode) -> dict[str, Any]:
            listed = {"address": node.address, "listed_draining": node.draining}
            try:
                got: voice.NodeStats = await self._call(
                    node.address, "Stats", voice.Stats(), within=self.locate_timeout
                )
            except Exception as exc:
                return {**listed, "reachable": False, "error": type(exc).__name__}
            return {**listed, "reachable": True, **dataclasses.asdict(got)}

        return list(await asyncio.gather(*(ask(n) for n in self.source.nodes())))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def _holder(self, guild_id: int, user_id: int) -> str | None:
        """The node to send a user's update to: where this gateway placed them, else
        where it placed others of the guild, else the node hosting the guild, else the
        guild's first in rendezvous order."""
        placed = self._placed.get(guild_id)
        if placed:
            return placed.get(user_id) or next(iter(placed.values()))
        listed = self.source.nodes()
        if not listed:
            return None
        if len(listed) > 1 and (hosting := await self._hosting(guild_id, listed)):
            return hosting[0]
        return voice.pick_node([n.address for n in listed], guild_id)

    async def _hosting(self, guild_id: int, listed: Sequence[ListedNode]) -> list[str]:
        """The listed nodes that have voice for the guild, asked all at once, in rendezvous
        order (more than one only after a split, which then heals towards the first)."""

        async def ask(address: str) -> bool:
            try:
                done: voice.Done = await self._call(
                    address, "Locate", voice.Locate(guild_id), within=self.locate_timeout
                )
            except Exception as exc:  # down, slow or too old to know Locate: not here
                log.debug("locate on media node %s failed: %s", address, exc)
                return False
            return done.existed

        addresses = [n.address for n in listed]
        answers = await asyncio.gather(*(ask(a) for a in addresses))
        found = [a for a, here in zip(addresses, answers, strict=True) if here]
        return voice.rank_nodes(found, guild_id)

    async def _call(
        self, address: str, method: str, request: Any, *, within: float = CALL_TIMEOUT
    ) -> Any:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        reply_type = voice.METHODS[method][1]
        call = channel.unary_unary(
            f"/{voice.SERVICE}/{method}",
            request_serializer=voice.encode,
            response_deserializer=voice.decoder(reply_type),
        )
        with tracing.span(
            f"{voice.SERVICE}/{method}",
            kind=SpanKind.CLIENT,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": voice.SERVICE,
                "rpc.method": method,
                "server.address": address,
            },
        ):
            return await call(request, timeout=within, metadata=tracing.metadata() or None)
