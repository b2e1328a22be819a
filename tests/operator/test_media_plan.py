"""Media pod planning: surge, drain and delete decisions, with time passed in."""

from __future__ import annotations

from dataclasses import replace

from spectrus_operator.media import MediaPod, plan

T0 = 1_000_000.0


def pod(slot: int, port: int, template: str = "new", **changes: object) -> MediaPod:
    base = MediaPod(
        name=f"c-media-{template}-{slot}",
        template=template,
        slot=slot,
        port=port,
        ready=True,
        ip=f"10.0.0.{slot + 1}",
        host_ip="192.0.2.1",
        node="n1",
        drain_started=None,
        deleting=False,
        finished=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(pods: list[MediaPod], replicas: int = 2, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "template": "new",
        "replicas": replicas,
        "ports": range(30000, 30004),
        "drain_timeout": 60.0,
        "calls": {},
        "now": T0,
    }
    return plan(pods, **(args | kw))  # type: ignore[arg-type]


def test_creates_missing_slots_on_free_ports() -> None:
    steps = run([pod(1, 30000)])
    assert steps.create == [(0, 30001)]
    assert steps.drain == steps.delete == []


def test_replacements_come_first_then_old_pods_drain() -> None:
    old = [pod(0, 30000, "old"), pod(1, 30001, "old")]
    steps = run(old)
    assert steps.create == [(0, 30002), (1, 30003)]
    assert steps.drain == []  # the new pods do not serve yet

    new = [pod(0, 30002, ready=False), pod(1, 30003)]
    assert run(old + new).drain == []  # one replacement is not ready
    new[0] = replace(new[0], ready=True)
    assert sorted(run(old + new).drain) == [old[0].name, old[1].name]


def test_draining_pod_waits_for_calls_or_timeout() -> None:
    draining = pod(0, 30000, "old", drain_started=T0 - 10)
    current = [pod(0, 30001), pod(1, 30002)]
    assert run([draining, *current], calls={draining.name: 3}).delete == []
    assert run([draining, *current]).delete == []  # no answer: wait for the timeout
    assert run([draining, *current], calls={draining.name: 0}).delete == [draining.name]
    assert run([draining, *current], now=T0 + 50).delete == [draining.name]


def test_scaling_down_drains_the_highest_slots() -> None:
    pods = [pod(0, 30000), pod(1, 30001), pod(2, 30002)]
    steps = run(pods, replicas=1)
    assert sorted(steps.drain) == [pods[1].name, pods[2].name]
    assert steps.create == []


def test_voice_off_drains_everything() -> None:
    pods = [pod(0, 30000), pod(1, 30001)]
    assert sorted(run(pods, replicas=0).drain) == sorted(p.name for p in pods)


def test_finished_pods_are_deleted_and_replaced() -> None:
    dead = pod(0, 30000, finished=True)
    steps = run([dead, pod(1, 30001)])
    assert steps.delete == [dead.name]
    assert steps.create == [(0, 30002)]  # its port is still held until it is gone


def test_a_full_port_range_is_reported() -> None:
    pods = [pod(i, 30000 + i, "old") for i in range(4)]
    steps = run(pods)
    assert steps.create == []
    assert steps.ports_exhausted


def test_pod_from_api_object() -> None:
    raw = {
        "metadata": {
            "name": "c-media-abc-3",
            "annotations": {
                "spectrus.io/config-hash": "abc",
                "spectrus.io/voice-port": "30007",
                "spectrus.io/drain-started": "2026-11-21T10:00:00+00:00",
            },
        },
        "spec": {"nodeName": "n2"},
        "status": {
            "podIP": "10.1.0.9",
            "hostIP": "192.0.2.9",
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    parsed = MediaPod.of(raw)
    assert (parsed.slot, parsed.port, parsed.template, parsed.node) == (3, 30007, "abc", "n2")
    assert parsed.ready and parsed.draining and not parsed.finished
    assert parsed.control == "10.1.0.9:8444"


def test_ports_of_other_communities_are_avoided() -> None:
    steps = run([], taken=frozenset({30000, 30002}))
    assert steps.create == [(0, 30001), (1, 30003)]
