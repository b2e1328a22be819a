"""The operator against a real control plane (kube-apiserver, controller-manager,
scheduler, etcd, KWOK nodes that run no containers but make pods Running and Jobs
Complete): a Community becomes its children and Ready, rolls on a spec change, is repaired
when broken, converges after the operator is killed mid-reconcile, and is cleaned up.

Each test runs its own operator process, watching only the test's own namespace.
"""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "charts/spectrus/files/crd-communities.yaml"
OWNED_KINDS = (
    "deployments",
    "services",
    "configmaps",
    "secrets",
    "jobs",
    "ingresses",
    "networkpolicies",
    "poddisruptionbudgets",
    "pods",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, cp: Any, namespace: str) -> None:
        self.cp = cp
        self.ns = namespace

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return str(self.cp.kubectl("-n", self.ns, *args, input=input, check=check).stdout)

    def get(self, kind: str, name: str = "", selector: str = "") -> Any:
        args = ["get", kind, "-o", "json"]
        if name:
            args.insert(2, name)
        if selector:
            args += ["-l", selector]
        out = self.cp.kubectl("-n", self.ns, *args, check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def community(self, name: str) -> Any:
        return self.get("communities.spectrus.io", name)

    def children(self, name: str) -> dict[str, list[Any]]:
        """Every object labelled as the community's, by kind."""
        found = self.get(",".join(OWNED_KINDS), selector=f"spectrus.io/community={name}")
        by_kind: dict[str, list[Any]] = {}
        for item in found["items"]:
            by_kind.setdefault(item["kind"], []).append(item)
        return by_kind

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
        """Poll the API server until ``check`` returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.2)  # polling the API server; there is no event to wait on here

    def ready(self, name: str, **status: Any) -> Any:
        def check() -> Any:
            obj = self.community(name)
            st = (obj or {}).get("status") or {}
            conditions = {c["type"]: c for c in st.get("conditions", [])}
            if st.get("observedGeneration") != obj["metadata"]["generation"]:
                return None
            if conditions.get("Ready", {}).get("status") != "True":
                return None
            if conditions.get("Progressing", {}).get("status") != "False":
                return None
            return obj if all(st.get(k) == v for k, v in status.items()) else None

        try:
            return self.wait(f"{name} Ready with {status}", check)
        except AssertionError as exc:
            last = (self.community(name) or {}).get("status")
            raise AssertionError(f"{exc}; status: {json.dumps(last, indent=1)}") from None


class Operator:
    def __init__(self, cp: Any, namespace: str, log: Path) -> None:
        self.metrics_port = free_port()
        self.args = [
            str(ROOT / ".venv/bin/spectrus-operator"),
            "--namespace",
            namespace,
            "--health",
            f"http://127.0.0.1:{free_port()}/healthz",
            "--metrics-port",
            str(self.metrics_port),
        ]
        self.env = {**cp.env, "SPECTRUS_OPERATOR_RESYNC": "2"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def crd_installed(kube_control_plane: Any) -> None:
    kube_control_plane.kubectl("apply", "-f", str(CRD))
    # `kubectl wait` fails outright while the new CRD has no conditions yet: poll.
    established = '{.status.conditions[?(@.type=="Established")].status}'
    Cluster(kube_control_plane, "default").wait(
        "the CRD established",
        lambda: (
            kube_control_plane.kubectl(
                "get", "crd/communities.spectrus.io", "-o", f"jsonpath={established}"
            ).stdout
            == "True"
        ),
    )


@pytest.fixture
def cluster(kube_control_plane: Any, crd_installed: None) -> Iterator[Cluster]:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kube_control_plane.kubectl("create", "namespace", namespace)
    yield Cluster(kube_control_plane, namespace)
    kube_control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def operator(kube_control_plane: Any, cluster: Cluster, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(kube_control_plane, cluster.ns, tmp_path / "operator.log")
    op.start()
    yield op
    op.stop()
    log = op.log.read_text()
    assert "Traceback" not in log, log[-5000:]


def community(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hostname": f"{name}.chat.example.org",
        "postgres": {"secretRef": {"name": f"{name}-db"}},
        "redis": {"cluster": {"nodes": ["redis-0:6379"]}},
        "api": {"replicas": 1},
        "gateway": {"replicas": 2},
        "media": {"replicas": 2, "drainTimeoutSeconds": 2},
    }
    body.update(spec)
    return {
        "apiVersion": "spectrus.io/v1alpha1",
        "kind": "Community",
        "metadata": {"name": name},
        "spec": body,
    }


def db_secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-db"},
        "stringData": {"url": "postgresql://spectrus@db/spectrus"},
    }


def test_community_lifecycle(cluster: Cluster, operator: Operator) -> None:
    cluster.apply(db_secret("alpha"))
    started = time.monotonic()
    cluster.apply(community("alpha"))
    obj = cluster.ready("alpha")
    print(f"apply -> Ready: {time.monotonic() - started:.2f} s")
    uid = obj["metadata"]["uid"]
    status = obj["status"]
    assert status["version"] == "0.1.0"
    assert status["endpoints"] == {
        "api": "http://alpha.chat.example.org/api/v10",
        "gateway": "ws://alpha.chat.example.org/gateway",
    }
    assert status["components"]["api"] == {"desired": 1, "ready": 1, "updated": 1}
    assert status["components"]["media"]["ready"] == 2
    media = status["media"]
    assert len(media) == 2
    assert all(m["ready"] and not m["draining"] and m["address"] for m in media)
    assert len({m["port"] for m in media}) == 2
    assert all(30000 <= m["port"] <= 30099 for m in media)

    children = cluster.children("alpha")
    assert {d["metadata"]["name"] for d in children["Deployment"]} == {"alpha-api", "alpha-gateway"}
    assert {s["metadata"]["name"] for s in children["Service"]} == {"alpha-api", "alpha-gateway"}
    assert {c["metadata"]["name"] for c in children["ConfigMap"]} == {
        "alpha-config",
        "alpha-media-nodes",
    }
    assert [s["metadata"]["name"] for s in children["Secret"]] == ["alpha-keys"]
    assert len(children["Job"]) == 1
    assert [i["metadata"]["name"] for i in children["Ingress"]] == ["alpha"]
    for kind, items in children.items():
        for item in items:
            if (
                kind == "Pod"
                and item["metadata"]["labels"]["app.kubernetes.io/component"] != "media"
            ):
                continue  # Deployment and Job pods are owned by their ReplicaSet and Job
            refs = item["metadata"].get("ownerReferences", [])
            assert [r["uid"] for r in refs] == [uid], f"{kind} {item['metadata']['name']}"
    nodes = {
        line.split()[0]
        for line in children["ConfigMap"][1]["data"]["nodes"].splitlines()
        if line.strip()
    }
    assert len(nodes) == 2 and all(n.endswith(":8444") for n in nodes)
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=alpha")
    assert "SecretCreated" in events and "MigrationStarted" in events
    key_before = cluster.get("secret", "alpha-keys")["data"]
    scraped = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics").text
    assert 'spectrus_operator_communities{ready="True"} 1.0' in scraped
    reconciles = re.search(r'spectrus_operator_reconciles_total\{result="ok"\} (\S+)', scraped)
    assert reconciles and float(reconciles[1]) >= 1

    # A new version: migrate first, then roll the api and gateway, and replace the media
    # pods (the old ones drain; unreachable from here, they wait out the 2 s timeout).
    old_media = {m["pod"] for m in media}
    cluster.kubectl(
        "patch",
        "communities.spectrus.io",
        "alpha",
        "--type=merge",
        "-p",
        '{"spec":{"version":"0.2.0"}}',
    )
    obj = cluster.ready("alpha", version="0.2.0")
    children = cluster.children("alpha")
    images = {
        c["image"]
        for d in children["Deployment"]
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "ghcr.io/spectrus/spectrus-api:0.2.0",
        "ghcr.io/spectrus/spectrus-gateway:0.2.0",
    }
    jobs = [j["metadata"]["annotations"]["spectrus.io/release"] for j in children["Job"]]
    assert jobs == ["0.2.0"]  # the finished older migration is removed
    new_media = {m["pod"] for m in obj["status"]["media"]}
    assert len(new_media) == 2 and not new_media & old_media
    media_pods = [p for p in children["Pod"] if p["metadata"]["name"] in new_media | old_media]
    assert {
        p["metadata"]["name"] for p in media_pods if not p["metadata"].get("deletionTimestamp")
    } == new_media
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=alpha")
    assert "MediaDraining" in events and "MediaPodDeleted" in events
    assert cluster.get("secret", "alpha-keys")["data"] == key_before  # generated once

    cluster.kubectl("delete", "communities.spectrus.io", "alpha", "--wait=true", "--timeout=60s")
    cluster.wait(
        "every child gone",
        lambda: (
            not any(
                not item["metadata"].get("deletionTimestamp")
                for items in cluster.children("alpha").values()
                for item in items
            )
        ),
    )


def test_drift_is_repaired(cluster: Cluster, operator: Operator) -> None:
    cluster.apply(db_secret("beta"))
    cluster.apply(community("beta"))
    cluster.ready("beta")
    cluster.kubectl("delete", "deployment", "beta-api")
    cluster.kubectl("scale", "deployment", "beta-gateway", "--replicas=5")
    cluster.kubectl(
        "patch",
        "configmap",
        "beta-config",
        "--type=merge",
        "-p",
        '{"data":{"SPECTRUS_REGISTRATION":"closed"}}',
    )
    cluster.kubectl("delete", "service", "beta-gateway")
    media_pod = cluster.community("beta")["status"]["media"][0]["pod"]
    cluster.kubectl("delete", "pod", media_pod, "--wait=false")

    def repaired() -> bool:
        api = cluster.get("deployment", "beta-api")
        gateway = cluster.get("deployment", "beta-gateway")
        config = cluster.get("configmap", "beta-config")
        service = cluster.get("service", "beta-gateway")
        media = cluster.get(
            "pods", selector="spectrus.io/community=beta,app.kubernetes.io/component=media"
        )
        live_media = [p for p in media["items"] if not p["metadata"].get("deletionTimestamp")]
        return bool(
            api
            and gateway["spec"]["replicas"] == 2
            and config["data"]["SPECTRUS_REGISTRATION"] == "open"
            and service
            and len(live_media) == 2
        )

    cluster.wait("the hand edits undone", repaired)
    cluster.ready("beta")


def test_killed_operator_converges_without_duplicates(
    kube_control_plane: Any, cluster: Cluster, tmp_path: Path
) -> None:
    names = [f"c{i}" for i in range(4)]
    for name in names:
        cluster.apply(db_secret(name))
    first = Operator(kube_control_plane, cluster.ns, tmp_path / "first.log")
    first.start()
    try:
        for name in names:
            cluster.apply(community(name))
        # Kill it as soon as it has started writing children, mid-way through.
        cluster.wait(
            "the first children",
            lambda: cluster.get(
                "configmaps", selector="app.kubernetes.io/managed-by=spectrus-operator"
            )["items"],
            timeout=60,
        )
    finally:
        first.kill()
    second = Operator(kube_control_plane, cluster.ns, tmp_path / "second.log")
    second.start()
    try:
        for name in names:
            cluster.ready(name)
        for name in names:
            children = cluster.children(name)
            counts = {kind: len(items) for kind, items in children.items()}
            media = [
                p
                for p in children["Pod"]
                if p["metadata"]["labels"]["app.kubernetes.io/component"] == "media"
            ]
            assert counts["Deployment"] == 2, counts
            assert counts["Service"] == 2, counts
            assert counts["ConfigMap"] == 2, counts
            assert counts["Secret"] == 1, counts
            assert counts["Job"] == 1, counts
            assert len(media) == 2, [p["metadata"]["name"] for p in media]
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hostname": "Not_A_Host"}, "spec.hostname"),
        (
            {"redis": {"cluster": {"nodes": ["a:1"]}, "shards": ["b:2"]}},
            "redis needs exactly one of cluster",
        ),
        ({"redis": {}}, "redis needs exactly one of cluster"),
        (
            {"gateway": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
            "autoscaling.maxReplicas must be at least autoscaling.minReplicas",
        ),
        (
            {"media": {"replicas": 3, "udp": {"portRange": {"start": 31000, "end": 31003}}}},
            "must hold two ports per media replica",
        ),
        ({"api": {"replicas": 3}}, "more than one api pod needs storage.s3"),
        ({"media": {"replicas": 0}}, "features.voice needs media.replicas >= 1"),
        ({"limits": {"uploadBytes": 10}}, "spec.limits.uploadBytes"),
        ({"media": {"udp": {"mode": "Tunnel"}}}, "spec.media.udp.mode"),
        ({"tracing": {"otlpEndpoint": "collector:4318"}}, "spec.tracing.otlpEndpoint"),
        ({"admins": ["a,b"]}, "spec.admins[0]"),
        ({"surprise": True}, 'unknown field "spec.surprise"'),
    ],
)
def test_invalid_communities_are_rejected(
    cluster: Cluster, change: dict[str, Any], message: str
) -> None:
    obj = community("bad", **change)
    out = cluster.cp.kubectl(
        "-n", cluster.ns, "apply", "-f", "-", input=yaml.safe_dump(obj), check=False
    )
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
    assert cluster.community("bad") is None


def test_missing_secret_is_reported_then_recovered(cluster: Cluster, operator: Operator) -> None:
    cluster.apply(community("gamma"))

    def reported() -> Any:
        st = (cluster.community("gamma") or {}).get("status") or {}
        ready = {c["type"]: c for c in st.get("conditions", [])}.get("Ready")
        return ready if ready and ready["reason"] == "SecretNotFound" else None

    ready = cluster.wait("the missing secret reported", reported)
    assert ready["status"] == "False"
    assert "Secret gamma-db (postgres.secretRef) does not exist" in ready["message"]
    cluster.apply(db_secret("gamma"))
    cluster.ready("gamma")


def _dashboard_checker() -> ModuleType:
    """``tests/test_dashboards.py``'s checker, loaded by path (test files cannot import
    each other under ``--import-mode=importlib``; one checker is what both must agree on)."""
    spec = importlib.util.spec_from_file_location(
        "spectrus_dashboard_checker", ROOT / "tests" / "test_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_dashboard_queries_name_only_what_the_operator_exports(
    cluster: Cluster, operator: Operator
) -> None:
    """The operator's side of ``tests/test_dashboards.py``: every query that selects the
    operator (``job="spectrus-operator"``, in any dashboard) names a metric the running
    operator exports, scraped once it brought a Community to Ready (so its labelled
    series have samples)."""
    checker = _dashboard_checker()
    cluster.apply(db_secret("dash"))
    cluster.apply(community("dash", gateway={"replicas": 1}, media={"replicas": 1}))
    cluster.ready("dash")
    response = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10)
    assert response.status_code == 200
    exported = {"operator": checker.sample_names(response.text)}

    checked = 0
    for name in sorted(checker.UIDS):
        dashboard = checker.load(name)
        assert checker.unexported(dashboard, exported) == [], name
        checked += len(checker.names_by_process(dashboard).get("operator", ()))
    assert checked >= 8  # the operator dashboard's names, and the overview's `up`

    # The same check fails on a name the operator does not export.
    dashboard = checker.load("operator.json")
    dashboard["panels"][0]["targets"][0]["expr"] = (
        'spectrus_operator_nonexistent_total{job="spectrus-operator"}'
    )
    (problem,) = checker.unexported(dashboard, exported)
    assert problem.endswith("spectrus_operator_nonexistent_total is not exported by operator")
