"""Media pods: which to create, which to drain and which to delete (no I/O), and the
calls that drain a node.

Media pods are managed one by one rather than by a Deployment, like game servers: each
gets its own voice port from the Community's range, and a pod is never deleted while it
carries calls. A pod to be replaced (its template changed, or there are too many) first
*drains*: its node takes no new rooms, the gateways stop choosing it, and it is deleted
once its last session ends or the drain timeout passes. Replacements are created first,
so capacity never dips during an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc

from spectrus_domain import voice
from spectrus_operator.manifests import (
    CONTROL_PORT,
    DRAIN_STARTED_ANNOTATION,
    DRAINING_LABEL,
    HASH_ANNOTATION,
    PORT_ANNOTATION,
)

CALL_TIMEOUT = 2.0


@dataclass(frozen=True)
class MediaPod:
    name: str
    template: str
    slot: int
    port: int
    ready: bool
    ip: str
    host_ip: str
    node: str
    drain_started: float | None  # epoch seconds
    deleting: bool
    finished: bool  # Failed or Succeeded: it will not serve again

    @classmethod
    def of(cls, pod: dict[str, Any]) -> MediaPod:
        meta, status = pod["metadata"], pod.get("status") or {}
        annotations = meta.get("annotations") or {}
        started = annotations.get(DRAIN_STARTED_ANNOTATION)
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return cls(
            name=meta["name"],
            template=annotations.get(HASH_ANNOTATION, ""),
            slot=int(meta["name"].rsplit("-", 1)[1]),
            port=int(annotations.get(PORT_ANNOTATION, 0)),
            ready=conditions.get("Ready") == "True",
            ip=status.get("podIP", ""),
            host_ip=status.get("hostIP", ""),
            node=(pod.get("spec") or {}).get("nodeName", ""),
            drain_started=datetime.fromisoformat(started).timestamp() if started else None,
            deleting=bool(meta.get("deletionTimestamp")),
            finished=status.get("phase") in ("Failed", "Succeeded"),
        )

    @property
    def draining(self) -> bool:
        return self.drain_started is not None

    @property
    def control(self) -> str:
        return f"{self.ip}:{CONTROL_PORT}" if self.ip else ""


def unschedulable(pod: dict[str, Any]) -> str:
    """The scheduler's reason a pod waits for a node (e.g. no node has its port free)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return str(condition.get("message", "no node fits"))
    return ""


@dataclass
class MediaPlan:
    create: list[tuple[int, int]] = field(default_factory=list)  # (slot, port)
    drain: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    ports_exhausted: bool = False


def plan(
    pods: list[MediaPod],
    *,
    template: str,
    replicas: int,
    ports: range,
    drain_timeout: float,
    calls: dict[str, int],
    now: float,
    taken: frozenset[int] = frozenset(),
) -> MediaPlan:
    """What to do next for ``replicas`` pods of ``template``. ``calls`` holds, for the
    draining pods that answered, how many guilds still have voice on them (a silent pod
    waits out its timeout);
    ``taken`` are ports other communities' media pods hold nearby (same namespace)."""
    out = MediaPlan()
    live = [p for p in pods if not p.deleting]
    out.delete += [p.name for p in live if p.finished]
    live = [p for p in live if not p.finished]

    current = {p.slot: p for p in live if p.template == template and not p.draining}
    used = {p.port for p in pods} | taken  # a pod being deleted still holds its port
    free = (port for port in ports if port not in used)
    for slot in range(replicas):
        if slot not in current:
            port = next(free, None)
            if port is None:
                out.ports_exhausted = True
                break
            out.create.append((slot, port))

    ready_current = sum(1 for slot, p in current.items() if slot < replicas and p.ready)
    for p in live:
        if p.draining:
            assert p.drain_started is not None
            if calls.get(p.name) == 0 or now - p.drain_started >= drain_timeout:
                out.delete.append(p.name)
        elif p.template == template and p.slot >= replicas:
            out.drain.append(p.name)  # scaled down
        elif p.template != template and ready_current >= replicas:
            out.drain.append(p.name)  # replaced, and its replacements serve
    return out


def drain_patch(now: datetime) -> dict[str, Any]:
    """Marks a pod draining; the mark is the record, so a restarted operator goes on."""
    return {
        "metadata": {
            "labels": {DRAINING_LABEL: "true"},
            "annotations": {DRAIN_STARTED_ANNOTATION: now.isoformat()},
        }
    }


class NodeControl:
    """The operator's calls to media nodes' control service."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def drain(self, address: str) -> int | None:
        """Tell the node to take no new guilds; how many guilds it still carries (0: the
        drain is over), or None if it did not answer (gone, or unreachable from here)."""
        if not address:
            return None
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        call = channel.unary_unary(
            f"/{voice.SERVICE}/Drain",
            request_serializer=voice.encode,
            response_deserializer=voice.decoder(voice.NodeStats),
        )
        try:
            stats = await call(voice.Drain(draining=True), timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError:
            return None
        return int(stats.guilds)

    async def forget(self, keep: set[str]) -> None:
        for address in set(self._channels) - keep:
            await self._channels.pop(address).close()

    async def close(self) -> None:
        await self.forget(set())
