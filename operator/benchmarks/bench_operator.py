"""Operator figures on a local control plane (scripts/kube-control-plane.sh, KWOK nodes):

- time from `kubectl apply` of one Community to its Ready condition (several, one by one);
- time to reconcile N communities created at once, until all are Ready;
- the operator's resident memory with N communities, once settled and after resyncs.

Run: uv run --frozen --no-sync python operator/benchmarks/bench_operator.py [--communities 100]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/kube-control-plane.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def community(i: int) -> dict[str, Any]:
    port = 30000 + 2 * i  # its own two ports: many communities share the nodes
    return {
        "apiVersion": "spectrus.io/v1alpha1",
        "kind": "Community",
        "metadata": {"name": f"c{i:03d}", "namespace": "bench"},
        "spec": {
            "hostname": f"c{i:03d}.chat.example.org",
            "postgres": {"secretRef": {"name": "db"}},
            "redis": {"cluster": {"nodes": ["redis:6379"]}},
            "api": {"replicas": 1},
            "gateway": {"replicas": 1},
            "media": {"replicas": 1, "udp": {"portRange": {"start": port, "end": port + 1}}},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--communities", type=int, default=100)
    parser.add_argument("--one-by-one", type=int, default=5)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    nodes = max(2, (args.communities + args.one_by_one) * 4 // 100 + 1)
    env = {**os.environ, "SPECTRUS_KUBE_FAKE_NODES": str(nodes)}
    kubeconfig = subprocess.run(
        [str(SCRIPT), "start", str(state)], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    bin_dir = subprocess.run(
        [str(SCRIPT), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    kenv = {**os.environ, "KUBECONFIG": kubeconfig}

    def kubectl(*a: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [f"{bin_dir}/kubectl", *a],
            input=stdin,
            env=kenv,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    operator = None
    try:
        kubectl("apply", "-f", str(ROOT / "charts/spectrus/files/crd-communities.yaml"))
        kubectl("create", "namespace", "bench")
        kubectl(
            "-n",
            "bench",
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=url=postgresql://x@db/x",
        )
        while "True" not in kubectl(
            "get",
            "crd/communities.spectrus.io",
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ):
            time.sleep(0.2)
        log = open(state / "operator.log", "wb")  # noqa: SIM115 - open for the run
        operator = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/spectrus-operator"),
                "--namespace",
                "bench",
                "--health",
                f"http://127.0.0.1:{free_port()}/healthz",
            ],
            env={**kenv, "SPECTRUS_OPERATOR_RESYNC": "30"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc = psutil.Process(operator.pid)
        time.sleep(2)  # let it start before the clock runs
        idle_rss = proc.memory_info().rss

        def ready_names() -> set[str]:
            items = json.loads(
                kubectl("-n", "bench", "get", "communities.spectrus.io", "-o", "json")
            )["items"]
            return {
                c["metadata"]["name"]
                for c in items
                if any(
                    x["type"] == "Ready" and x["status"] == "True"
                    for x in (c.get("status") or {}).get("conditions", [])
                )
            }

        single = []
        for i in range(args.one_by_one):
            obj = community(1000 + i)
            obj["spec"]["media"]["udp"]["portRange"] = {
                "start": 31000 + 2 * i,
                "end": 31001 + 2 * i,
            }
            started = time.monotonic()
            kubectl("apply", "-f", "-", stdin=json.dumps(obj))
            while obj["metadata"]["name"] not in ready_names():
                time.sleep(0.1)
            single.append(time.monotonic() - started)
        print(
            f"apply -> Ready, one at a time (n={len(single)}): median {statistics.median(single):.2f} s, "
            f"min {min(single):.2f} s, max {max(single):.2f} s"
        )

        batch = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [community(i) for i in range(args.communities)],
        }
        started = time.monotonic()
        batch_cpu = proc.cpu_times()
        kubectl("apply", "-f", "-", stdin=json.dumps(batch))
        want = {c["metadata"]["name"] for c in batch["items"]}
        peak = 0
        while not want <= ready_names():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.5)
        took = time.monotonic() - started
        settled = proc.memory_info().rss
        used = proc.cpu_times()
        busy = (used.user + used.system) - (batch_cpu.user + batch_cpu.system)
        print(
            f"{args.communities} communities created at once -> all Ready: {took:.1f} s "
            f"({took / args.communities * 1000:.0f} ms per community; operator CPU "
            f"{busy:.1f} s, {busy / took * 100:.0f}% of a core)"
        )
        cpu_before = proc.cpu_times()
        time.sleep(65)  # two full resync passes over every community
        cpu_after = proc.cpu_times()
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        total = args.communities + args.one_by_one
        print(
            f"operator RSS: {idle_rss / 2**20:.0f} MiB idle, {max(peak, settled) / 2**20:.0f} MiB peak, "
            f"{settled / 2**20:.0f} MiB with {total} communities settled, "
            f"{proc.memory_info().rss / 2**20:.0f} MiB after two resync passes"
        )
        print(
            f"resync cost: {cpu / 65 * 100:.1f}% of a core for {total} communities every 30 s "
            f"({cpu / (total * 65 / 30) * 1000:.0f} ms CPU per community reconcile)"
        )
        children = json.loads(
            kubectl("-n", "bench", "get", "deploy,pods,svc,cm,secret,job", "-o", "json")
        )["items"]
        print(f"objects in the namespace: {len(children)}")
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(30)
        subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True, check=False)


if __name__ == "__main__":
    main()
