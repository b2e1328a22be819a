"""Level-based reconciliation of one ``Community``: read what is, make it what the spec
says, and write a status that tells the truth.

Every run starts from the object as the API server has it now, not from the event that
woke it, so a run after a crash, a missed event or a hand edit converges the same way.
Children have fixed names (or, for media pods, names fixed by their template and slot), so
a run interrupted anywhere and repeated creates nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from spectrus_operator import manifests as m
from spectrus_operator import metrics
from spectrus_operator.kube import ApiError, Kube
from spectrus_operator.media import MediaPod, NodeControl, drain_patch, plan, unschedulable
from spectrus_operator.spec import CommunitySpec, parse

log = logging.getLogger("spectrus.operator")

COMPONENTS = ("api", "gateway")
POKE_DELAY = 0.2  # seconds a child's change waits for the rest of its burst
# Kinds a community's children come in, in the order cleanup removes them.
CHILD_KINDS = (
    "Pod",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Job",
    "Ingress",
    "NetworkPolicy",
    "Service",
    "ConfigMap",
    "Secret",
)


@dataclass
class Condition:
    type: str
    ok: bool
    reason: str
    message: str = ""


@dataclass
class Observed:
    """What one run found and did, from which the status is written."""

    conditions: list[Condition] = field(default_factory=list)
    components: dict[str, dict[str, int]] = field(default_factory=dict)
    media: list[dict[str, Any]] = field(default_factory=list)
    release: str = ""
    progressing: list[str] = field(default_factory=list)  # why it is not settled
    degraded: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)


def _job_state(job: dict[str, Any] | None) -> str:
    if job is None:
        return "missing"
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["status"] == "True" and condition["type"] in ("Complete", "Failed"):
            return str(condition["type"]).lower()
    return "running"


def _deployment_counts(deployment: dict[str, Any] | None, generation: int) -> dict[str, int]:
    if deployment is None:
        return {"desired": 0, "ready": 0, "updated": 0}
    status = deployment.get("status") or {}
    current = status.get("observedGeneration", 0) >= generation
    return {
        "desired": int((deployment.get("spec") or {}).get("replicas", 0)),
        "ready": int(status.get("readyReplicas", 0)),
        "updated": int(status.get("updatedReplicas", 0)) if current else 0,
    }


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        nodes: NodeControl | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.nodes = nodes or NodeControl()
        self.clock = clock
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._again: set[tuple[str, str]] = set()
        self._poked_keys: set[tuple[str, str]] = set()
        self._port_locks: dict[str, asyncio.Lock] = {}
        # What the last run of each community found, for the gauges.
        self._ready: dict[tuple[str, str], bool] = {}
        self._draining: dict[tuple[str, str], int] = {}

    def _count(self) -> None:
        ready = sum(self._ready.values())
        metrics.COMMUNITIES.labels("True").set(ready)
        metrics.COMMUNITIES.labels("False").set(len(self._ready) - ready)
        metrics.MEDIA_DRAINING.set(sum(self._draining.values()))
        self._tasks: set[asyncio.Task[None]] = set()

    # -- entry points --------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> None:
        """One run for the object; runs for the same object never overlap, and a request
        that arrives during a run is served by one more run after it."""
        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            self._again.add(key)
        async with lock:
            self._again.discard(key)
            owner = await self.kube.get("Community", namespace, name)
            if owner is None or owner["metadata"].get("deletionTimestamp"):
                self._locks.pop(key, None)
                self._ready.pop(key, None)
                self._draining.pop(key, None)
                self._count()
                return
            started = time.perf_counter()
            try:
                await self._reconcile(owner)
            except Exception:
                metrics.RECONCILES.labels("error").inc()
                raise
            finally:
                metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
            metrics.RECONCILES.labels("ok").inc()

    def poke(self, namespace: str, name: str) -> None:
        """Reconcile soon (a child changed). Children change in bursts (a rollout moves a
        Deployment's status a dozen times), so one run after ``POKE_DELAY`` serves every
        poke that arrives meanwhile, and pokes during a run ask for one run after it."""
        key = (namespace, name)
        if key in self._poked_keys:
            return
        lock = self._locks.get(key)
        if lock is not None and lock.locked():
            self._again.add(key)
            return
        self._poked_keys.add(key)
        task = asyncio.create_task(self._poked(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poked(self, key: tuple[str, str]) -> None:
        try:
            await asyncio.sleep(POKE_DELAY)
            self._poked_keys.discard(key)
            await self.reconcile(*key)
            while key in self._again:
                await self.reconcile(*key)
        except (ApiError, httpx.HTTPError) as exc:
            # The timer's next run retries; nothing is lost by dropping this one.
            log.warning("reconcile of %s/%s after a child change failed: %s", *key, exc)
        finally:
            self._poked_keys.discard(key)

    async def cleanup(self, owner: dict[str, Any]) -> None:
        """Delete every child now rather than leave it to the garbage collector: media pods
        would otherwise hold their host ports, and the database secret reference ends."""
        namespace, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        for kind in CHILD_KINDS:
            for child in await self.kube.list(kind, namespace, {m.COMMUNITY_LABEL: name}):
                await self.kube.delete(kind, namespace, child["metadata"]["name"])
        await self.nodes.forget(set())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.nodes.close()

    # -- one run ---------------------------------------------------------------------------

    async def _reconcile(self, owner: dict[str, Any]) -> None:
        spec = parse(owner["spec"])
        seen = Observed()
        try:
            await self._check_secrets(owner, spec, seen)
            await self._ensure_keys(owner)
            await self.kube.apply(m.config_map(owner, spec))
            seen.release = await self._migrate(owner, spec, seen)
            await self._workloads(owner, spec, seen)
            await self._media(owner, spec, seen)
        except ApiError as exc:
            seen.degraded.append(("KubernetesApiError", str(exc)))
            await self._write_status(owner, spec, seen)
            raise
        await self._write_status(owner, spec, seen)

    async def _check_secrets(
        self, owner: dict[str, Any], spec: CommunitySpec, seen: Observed
    ) -> None:
        """Pods that reference a missing Secret never start; say which one, up front."""
        namespace = owner["metadata"]["namespace"]
        wanted = [(spec.postgres.name, spec.postgres.key, "postgres.secretRef")]
        if spec.redis.password is not None:
            wanted.append(
                (spec.redis.password.name, spec.redis.password.key, "redis.passwordSecretRef")
            )
        if spec.tls_secret:
            wanted.append((spec.tls_secret, "tls.crt", "tls.secretName"))
        if spec.media.tls_secret and spec.voice:
            wanted.append((spec.media.tls_secret, "tls.key", "media.tlsSecretName"))
        if spec.s3 is not None:
            wanted.append(
                (spec.s3.credentials, "secret-access-key", "storage.s3.credentialsSecret")
            )
        for secret_name, key, where in wanted:
            secret = await self.kube.get("Secret", namespace, secret_name)
            if secret is None:
                seen.degraded.append(
                    (
                        "SecretNotFound",
                        f"Secret {secret_name} ({where}) does not exist in namespace {namespace}",
                    )
                )
            elif key not in (secret.get("data") or {}):
                seen.degraded.append(
                    ("SecretKeyMissing", f"Secret {secret_name} ({where}) has no key {key!r}")
                )

    async def _ensure_keys(self, owner: dict[str, Any]) -> None:
        # Created once and never applied again: a new key would invalidate every signed
        # attachment URL already handed out.
        if await self.kube.create(m.keys_secret(owner, secrets.token_hex(32))):
            await self.kube.event(
                owner, "Normal", "SecretCreated", "generated the instance's secret key"
            )

    async def _migrate(self, owner: dict[str, Any], spec: CommunitySpec, seen: Observed) -> str:
        """Run the release's migration Job; the release the api and gateway may run: the
        spec's once its migration finished, else whatever they run now."""
        namespace = owner["metadata"]["namespace"]
        job_name = m.migration_job_name(owner, spec)
        job = await self.kube.get("Job", namespace, job_name)
        if job is None:
            job = await self.kube.apply(m.migration_job(owner, spec))
            await self.kube.event(
                owner,
                "Normal",
                "MigrationStarted",
                f"migrating the database for {spec.release} (Job {job_name})",
            )
        state = _job_state(job)
        if state == "complete":
            seen.conditions.append(
                Condition("DatabaseMigrated", True, "Migrated", f"schema is at {spec.release}")
            )
            for old in await self.kube.list(
                "Job", namespace, m.selector(owner["metadata"]["name"], "migrate")
            ):
                if old["metadata"]["name"] != job_name:
                    await self.kube.delete("Job", namespace, old["metadata"]["name"])
            return spec.release
        if state == "failed":
            seen.degraded.append(
                (
                    "MigrationFailed",
                    f"Job {job_name} failed; see `kubectl logs job/{job_name}`, fix the cause, then delete the Job to retry",
                )
            )
            seen.conditions.append(
                Condition("DatabaseMigrated", False, "MigrationFailed", f"Job {job_name} failed")
            )
        else:
            seen.progressing.append(f"migrating the database for {spec.release}")
            seen.conditions.append(
                Condition("DatabaseMigrated", False, "Migrating", f"Job {job_name} is running")
            )
        live = await self.kube.get("Deployment", namespace, m.child_name(owner, "api"))
        labels = (live or {}).get("metadata", {}).get("labels", {})
        return str(labels.get("app.kubernetes.io/version", ""))

    async def _workloads(self, owner: dict[str, Any], spec: CommunitySpec, seen: Observed) -> None:
        namespace = owner["metadata"]["namespace"]
        for component in COMPONENTS:
            await self.kube.apply(m.service(owner, component))
            await self.kube.apply(m.disruption_budget(owner, component))
            scaler = m.autoscaler(owner, spec, component)
            if scaler is not None:
                await self.kube.apply(scaler)
            else:
                await self.kube.delete(
                    "HorizontalPodAutoscaler", namespace, m.child_name(owner, component)
                )
            live = None
            if seen.release:
                live = await self.kube.apply(m.deployment(owner, spec, component, seen.release))
            counts = _deployment_counts(live, (live or {}).get("metadata", {}).get("generation", 0))
            seen.components[component] = counts
            title = component.capitalize()
            if counts["ready"] >= 1:
                seen.conditions.append(
                    Condition(
                        f"{title}Available",
                        True,
                        "PodsReady",
                        f"{counts['ready']} of {counts['desired']} pods ready",
                    )
                )
            else:
                reason = "NoReadyPods" if live is not None else "WaitingForMigration"
                seen.conditions.append(
                    Condition(
                        f"{title}Available", False, reason, f"0 of {counts['desired']} pods ready"
                    )
                )
            if live is not None and (
                counts["updated"] < counts["desired"] or counts["ready"] < counts["desired"]
            ):
                seen.progressing.append(
                    f"{component}: {counts['updated']} of {counts['desired']} pods updated, {counts['ready']} ready"
                )
        await self.kube.apply(m.ingress(owner, spec))

    async def _media(self, owner: dict[str, Any], spec: CommunitySpec, seen: Observed) -> None:
        namespace, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        replicas = spec.media.replicas if spec.voice else 0
        if spec.voice:
            await self.kube.apply(m.media_network_policy(owner))
        else:
            await self.kube.delete("NetworkPolicy", namespace, m.child_name(owner, "media"))
        calls: dict[str, int] = {}
        for raw_pod in await self.kube.list("Pod", namespace, m.selector(name, "media")):
            pod = MediaPod.of(raw_pod)
            if pod.draining and not pod.deleting:
                # Repeated every run: a node that restarted forgets it was draining.
                count = await self.nodes.drain(pod.control)
                if count is not None:
                    calls[pod.name] = count
        template = m.media_template_hash(spec)
        # Communities of one namespace reconcile concurrently and pick host ports from what
        # the others hold: one at a time, or two would take the same port.
        async with self._port_locks.setdefault(namespace, asyncio.Lock()):
            all_media = await self.kube.list(
                "Pod", namespace, {m.COMPONENT_LABEL: "media", **m.MANAGED_BY}
            )
            mine = [p for p in all_media if p["metadata"]["labels"].get(m.COMMUNITY_LABEL) == name]
            pods = [MediaPod.of(p) for p in mine]
            steps = plan(
                pods,
                template=template,
                replicas=replicas,
                ports=range(spec.media.port_start, spec.media.port_end + 1),
                drain_timeout=spec.media.drain_timeout,
                calls=calls,
                now=self.clock(),
                taken=frozenset(MediaPod.of(p).port for p in all_media if p not in mine),
            )
            for slot, port in steps.create:
                await self.kube.create(m.media_pod(owner, spec, slot, port))
        for p in mine:
            if why := unschedulable(p):
                seen.degraded.append(
                    ("MediaUnschedulable", f"media pod {p['metadata']['name']}: {why}")
                )
        now = datetime.fromtimestamp(self.clock(), UTC)
        by_name = {p.name: p for p in pods}
        for pod_name in steps.drain:
            await self.kube.patch("Pod", namespace, pod_name, drain_patch(now))
            await self.nodes.drain(by_name[pod_name].control)
            await self.kube.event(
                owner,
                "Normal",
                "MediaDraining",
                f"media pod {pod_name} takes no new calls and is deleted when its calls end",
            )
        for pod_name in steps.delete:
            await self.kube.delete("Pod", namespace, pod_name)
            left = calls.get(pod_name)
            why = (
                "its calls ended"
                if left == 0
                else "it finished"
                if by_name[pod_name].finished
                else "the drain timeout passed"
            )
            await self.kube.event(
                owner, "Normal", "MediaPodDeleted", f"deleted media pod {pod_name}: {why}"
            )
        if steps.ports_exhausted:
            seen.degraded.append(
                (
                    "PortRangeExhausted",
                    f"media.udp.portRange {spec.media.port_start}-{spec.media.port_end} has no free port for a new media pod",
                )
            )

        gone = set(steps.delete) | set(steps.drain)
        serving = [
            p for p in pods if not p.deleting and not p.finished and p.name not in steps.delete
        ]
        await self.kube.apply(
            m.media_nodes_config_map(
                owner, [(p.control, p.draining or p.name in gone) for p in serving if p.control]
            )
        )
        await self.nodes.forget({p.control for p in serving})
        ready = [
            p
            for p in serving
            if p.template == template and not p.draining and p.name not in gone and p.ready
        ]
        seen.components["media"] = {
            "desired": replicas,
            "ready": len(ready),
            "updated": sum(1 for p in serving if p.template == template and not p.draining),
        }
        address = spec.media.public_address
        seen.media = [
            {
                "pod": p.name,
                "node": p.node,
                "address": address or p.host_ip,
                "port": p.port,
                "ready": p.ready,
                "draining": p.draining or p.name in gone,
                **({"calls": calls[p.name]} if p.name in calls else {}),
            }
            for p in sorted(serving, key=lambda p: p.name)
        ]
        if not spec.voice:
            seen.conditions.append(
                Condition("MediaAvailable", True, "VoiceDisabled", "features.voice is off")
            )
        elif ready:
            seen.conditions.append(
                Condition(
                    "MediaAvailable",
                    True,
                    "PodsReady",
                    f"{len(ready)} of {replicas} media pods take calls",
                )
            )
        else:
            seen.conditions.append(
                Condition(
                    "MediaAvailable", False, "NoReadyPods", f"0 of {replicas} media pods take calls"
                )
            )
        if steps.create or steps.drain or len(ready) < replicas or any(p.draining for p in serving):
            draining = sum(1 for p in serving if p.draining or p.name in gone)
            seen.progressing.append(
                f"media: {len(ready)} of {replicas} pods ready, {draining} draining"
            )

    # -- status ----------------------------------------------------------------------------

    async def _write_status(
        self, owner: dict[str, Any], spec: CommunitySpec, seen: Observed
    ) -> None:
        generation = int(owner["metadata"].get("generation", 0))
        conditions = list(seen.conditions)
        if seen.degraded:
            conditions.append(
                Condition(
                    "Degraded",
                    True,
                    seen.degraded[0][0],
                    "; ".join(message for _, message in seen.degraded),
                )
            )
        else:
            conditions.append(Condition("Degraded", False, "AsExpected"))
        if seen.progressing:
            conditions.append(
                Condition("Progressing", True, "Reconciling", "; ".join(seen.progressing))
            )
        else:
            conditions.append(
                Condition("Progressing", False, "Complete", f"running {seen.release}")
            )
        unavailable = [c for c in seen.conditions if not c.ok]
        if seen.degraded:
            ready = Condition("Ready", False, seen.degraded[0][0], seen.degraded[0][1])
        elif unavailable:
            ready = Condition(
                "Ready",
                False,
                unavailable[0].reason,
                f"{unavailable[0].type}: {unavailable[0].message}",
            )
        else:
            ready = Condition(
                "Ready", True, "AllComponentsAvailable", f"{spec.hostname} serves {seen.release}"
            )
        conditions.insert(0, ready)

        old = {c["type"]: c for c in (owner.get("status") or {}).get("conditions") or []}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        written = []
        for c in conditions:
            status = "True" if c.ok else "False"
            previous = old.get(c.type) or {}
            changed = previous.get("status") != status
            written.append(
                {
                    "type": c.type,
                    "status": status,
                    "reason": c.reason,
                    "message": c.message,
                    "observedGeneration": generation,
                    "lastTransitionTime": now
                    if changed
                    else previous.get("lastTransitionTime", now),
                }
            )
        key = (owner["metadata"]["namespace"], owner["metadata"]["name"])
        self._ready[key] = ready.ok
        self._draining[key] = sum(1 for pod in seen.media if pod["draining"])
        self._count()
        was_ready = (old.get("Ready") or {}).get("status")
        if was_ready != written[0]["status"]:
            kind = "Normal" if ready.ok else "Warning"
            await self.kube.event(
                owner, kind, "Ready" if ready.ok else ready.reason, ready.message or ready.reason
            )
        await self.kube.patch_status(
            owner["metadata"]["namespace"],
            owner["metadata"]["name"],
            {
                "observedGeneration": generation,
                "version": seen.release,
                "conditions": written,
                "components": seen.components,
                "endpoints": {"api": f"{spec.public_url}/api/v10", "gateway": spec.gateway_url},
                "media": seen.media,
            },
        )
