"""Every kind of child the operator writes, built from a spec that turns every option on,
passes the strict Kubernetes schemas offline (kubeconform) and the API server's own
validation (a server-side dry run)."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from spectrus_operator import manifests as m
from spectrus_operator.spec import parse

SPEC: dict[str, Any] = {
    "hostname": "chat.example.org",
    "version": "1.0.0",
    "image": {"registry": "registry.example/spectrus", "pullSecrets": ["pull"]},
    "tls": {"secretName": "chat-tls"},
    "ingress": {"className": "nginx", "annotations": {"example/annotation": "on"}},
    "postgres": {"secretRef": {"name": "db", "key": "url"}},
    "redis": {
        "shards": ["r0:6379", "r1:6379"],
        "passwordSecretRef": {"name": "redis"},
        "tls": True,
    },
    "storage": {
        "s3": {"bucket": "files", "endpoint": "https://s3.example", "credentialsSecret": "s3"}
    },
    "api": {
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
    },
    "gateway": {"replicas": 3},
    "media": {
        "replicas": 2,
        "threads": 2,
        "udp": {"mode": "HostNetwork"},
        "publicAddress": "203.0.113.9",
        "tlsSecretName": "voice-tls",
    },
    "limits": {"members": 1000, "uploadBytes": 1 << 20, "retentionDays": 90},
    "features": {"registration": False, "linkPreviews": False},
    "admins": ["ops"],
    "tracing": {"otlpEndpoint": "http://collector.observability:4318", "sampleRatio": 0.5},
}


def children(namespace: str) -> list[dict[str, Any]]:
    owner = {
        "apiVersion": "spectrus.io/v1alpha1",
        "kind": "Community",
        "metadata": {"name": "full", "namespace": namespace, "uid": str(uuid.uuid4())},
        "spec": SPEC,
    }
    spec = parse(SPEC)
    out = [
        m.config_map(owner, spec),
        m.keys_secret(owner, "k" * 64),
        m.media_nodes_config_map(owner, [("10.0.0.1:8444", False), ("10.0.0.2:8444", True)]),
        m.migration_job(owner, spec),
        m.ingress(owner, spec),
        m.media_network_policy(owner),
        m.media_pod(owner, spec, 0, 30000),
        m.media_pod(owner, parse({**SPEC, "media": {}}), 1, 30001),  # host ports, node address
    ]
    for component in ("api", "gateway"):
        out += [
            m.deployment(owner, spec, component, spec.release),
            m.service(owner, component),
            m.disruption_budget(owner, component),
        ]
    scaler = m.autoscaler(owner, spec, "api")
    assert scaler is not None
    out.append(scaler)
    return out


def test_children_pass_strict_schemas_and_the_api_server(
    kube_schemas: Any, kubeconform: Any, kube_control_plane: Any
) -> None:
    namespace = f"schema-{uuid.uuid4().hex[:8]}"
    objects = children(namespace)
    assert len({o["kind"] for o in objects}) == 10
    text = yaml.safe_dump_all(objects)
    ok, messages = kubeconform([kube_schemas], text)
    assert ok, messages
    kube_control_plane.kubectl("create", "namespace", namespace)
    try:
        out = kube_control_plane.kubectl(
            "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=text, check=False
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.count("(server dry run)") == len(objects)
    finally:
        kube_control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
