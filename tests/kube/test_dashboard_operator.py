"""The operator's side of the dashboard check (``tests/test_dashboards.py``): every query
that selects the operator (``job="spectrus-operator"``, in any dashboard) names only
metrics the real operator process exports.

The operator runs as a process against the real control plane (``kube_control_plane``)
and reconciles a Community to Ready first, so its labelled series (reconciles by result,
communities by readiness) have samples when it is scraped. The checker is loaded from
``tests/test_dashboards.py`` by path: test files cannot import each other under
``--import-mode=importlib``, and one checker is what both files must agree on. For the
same reason the few lines that start the operator are a copy of ``test_operator.py``'s.
"""

from __future__ import annotations

import importlib.util
import json
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

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "charts/spectrus/files/crd-communities.yaml"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "spectrus_dashboard_checker", ROOT / "tests" / "test_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling the API server; there is no event to wait on here
    return result


@pytest.fixture
def namespace(kube_control_plane: Any) -> Iterator[str]:
    kube_control_plane.kubectl("apply", "-f", str(CRD))
    established = '{.status.conditions[?(@.type=="Established")].status}'
    wait(
        "the CRD established",
        lambda: (
            kube_control_plane.kubectl(
                "get", "crd/communities.spectrus.io", "-o", f"jsonpath={established}"
            ).stdout
            == "True"
        ),
    )
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube_control_plane.kubectl("create", "namespace", name)
    yield name
    kube_control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_operator_dashboard_queries_name_only_what_the_operator_exports(
    kube_control_plane: Any, namespace: str, tmp_path: Path
) -> None:
    checker = load_checker()

    def kubectl(*args: str, input: str | None = None) -> str:
        return str(kube_control_plane.kubectl("-n", namespace, *args, input=input).stdout)

    metrics_port = free_port()
    log = tmp_path / "operator.log"
    args = [
        str(ROOT / ".venv/bin/spectrus-operator"),
        "--namespace",
        namespace,
        "--health",
        f"http://127.0.0.1:{free_port()}/healthz",
        "--metrics-port",
        str(metrics_port),
    ]
    env = {**kube_control_plane.env, "SPECTRUS_OPERATOR_RESYNC": "2"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dash-db"},
            "stringData": {"url": "postgresql://spectrus@db/spectrus"},
        }
        community = {
            "apiVersion": "spectrus.io/v1alpha1",
            "kind": "Community",
            "metadata": {"name": "dash"},
            "spec": {
                "hostname": "dash.chat.example.org",
                "postgres": {"secretRef": {"name": "dash-db"}},
                "redis": {"cluster": {"nodes": ["redis-0:6379"]}},
                "api": {"replicas": 1},
                "gateway": {"replicas": 1},
                "media": {"replicas": 1, "drainTimeoutSeconds": 2},
            },
        }
        kubectl("apply", "-f", "-", input=json.dumps(secret))
        kubectl("apply", "-f", "-", input=json.dumps(community))

        def ready() -> bool:
            status = json.loads(kubectl("get", "communities.spectrus.io", "dash", "-o", "json"))
            conditions = {
                c["type"]: c["status"] for c in status.get("status", {}).get("conditions", [])
            }
            return conditions.get("Ready") == "True"

        wait("the Community Ready", ready)
        response = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert response.status_code == 200
        exported = {"operator": checker.sample_names(response.text)}

        checked = 0
        for name in sorted(checker.UIDS):
            dashboard = checker.load(name)
            problems: list[str] = checker.unexported(dashboard, exported)
            assert problems == [], name
            checked += len(checker.names_by_process(dashboard).get("operator", ()))
        assert checked >= 8  # the operator dashboard's names, and the overview's `up`

        # The same check fails on a name the operator does not export.
        dashboard = checker.load("operator.json")
        dashboard["panels"][0]["targets"][0]["expr"] = (
            'spectrus_operator_nonexistent_total{job="spectrus-operator"}'
        )
        (problem,) = checker.unexported(dashboard, exported)
        assert problem.endswith("spectrus_operator_nonexistent_total is not exported by operator")

        kubectl("delete", "communities.spectrus.io", "dash", "--wait=true", "--timeout=60s")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    text = log.read_text()
    assert "Traceback" not in text, text[-5000:]
