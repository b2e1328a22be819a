"""kopf wiring: which events start a reconcile of which ``Community``.

Creation, spec changes and operator start-up (``resume``) reconcile at once; a timer
re-checks every object regularly, so drift and lost events are repaired without any event
at all; and changes to a community's children (a Deployment becoming ready, a pod deleted
by hand) poke their owner. All of them run the same level-based reconcile.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
import kopf

from spectrus_operator.kube import ApiError, Kube
from spectrus_operator.manifests import COMMUNITY_LABEL, MANAGED_BY
from spectrus_operator.reconcile import Reconciler
from spectrus_operator.spec import GROUP, PLURAL, VERSION

# How often every Community is re-checked against its children, in seconds.
RESYNC = float(os.environ.get("SPECTRUS_OPERATOR_RESYNC", "30"))
_state: dict[str, Reconciler] = {}


def reconciler() -> Reconciler:
    return _state["reconciler"]


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    # One operator at a time (the chart runs one replica with Recreate): no peering.
    settings.peering.standalone = True
    settings.persistence.finalizer = f"{GROUP}/cleanup"
    # kopf's bookkeeping goes in annotations under our prefix, never in status, which the
    # CRD's schema would prune and which belongs to the reconcile.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    _state["reconciler"] = Reconciler(Kube.connect(settings))


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    if "reconciler" in _state:
        await _state.pop("reconciler").close()


async def _run(namespace: str | None, name: str) -> None:
    assert namespace is not None  # Community is a namespaced kind
    try:
        await reconciler().reconcile(namespace, name)
    except (ApiError, httpx.HTTPError) as exc:
        raise kopf.TemporaryError(str(exc), delay=5) from exc


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def changed(namespace: str | None, name: str, **_: Any) -> None:
    await _run(namespace, name)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC, sharp=False)
async def resync(namespace: str | None, name: str, **_: Any) -> None:
    await _run(namespace, name)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(body: kopf.Body, **_: Any) -> None:
    try:
        await reconciler().cleanup(dict(body))
    except (ApiError, httpx.HTTPError) as exc:
        raise kopf.TemporaryError(str(exc), delay=5) from exc


async def _poke_owner(labels: kopf.Labels, namespace: str | None, **_: Any) -> None:
    owner = labels.get(COMMUNITY_LABEL)
    if owner and namespace and "reconciler" in _state:
        reconciler().poke(namespace, owner)


for _group, _version, _plural in (
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
):
    kopf.on.event(_group, _version, _plural, labels=MANAGED_BY)(_poke_owner)
