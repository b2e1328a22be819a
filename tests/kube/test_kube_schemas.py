"""scripts/kube-schemas.py: offline, strict kubeconform schemas from a live apiserver and CRDs.

The schemas are generated from the real control plane's /openapi/v2 and a small CRD, and
every verdict kubeconform gives with them is checked against the apiserver's own: what it
accepts (and what it returns) validates, what it rejects (strict field validation) fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

GROUP = "schematest.spectrus.io"  # not the operator's group: the cluster is shared
NAMESPACE = "kube-schemas-test"

CRD = f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: communities.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: communities, singular: community, kind: Community, listKind: CommunityList}}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [replicas]
            properties:
              replicas: {{type: integer, minimum: 0}}
              port: {{x-kubernetes-int-or-string: true}}
              motd: {{type: string, nullable: true}}
              settings:
                type: object
                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""

DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {NAMESPACE}
  labels: {{app: web}}
  creationTimestamp: null
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{rollingUpdate: {{maxSurge: 25%, maxUnavailable: 1}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /readyz, port: http}}}}
        resources:
          requests: {{cpu: 100m, memory: 64Mi}}
          limits: {{cpu: 1, memory: 128Mi}}
status: {{}}
"""

SERVICE = f"""\
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""

COMMUNITY = f"""\
apiVersion: {GROUP}/v1alpha1
kind: Community
metadata: {{name: main, namespace: {NAMESPACE}, labels: {{tier: test}}}}
spec:
  replicas: 3
  port: 8080
  motd: null
  settings: {{anything: [goes, 1]}}
"""

# spec.replicass: a typo kubeconform -strict and the apiserver's strict validation reject.
DEPLOYMENT_TYPO = DEPLOYMENT.replace("  replicas: 2", "  replicass: 2")
COMMUNITY_WRONG_TYPE = COMMUNITY.replace("replicas: 3", "replicas: three")


@dataclass(frozen=True)
class Schemas:
    k8s: Path
    crds: Path
    seconds: float  # how long generating both took

    @property
    def dirs(self) -> list[Path]:
        return [self.k8s, self.crds]


@pytest.fixture(scope="module")
def schemas(
    kube_control_plane: Any,
    generate_kube_schemas: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Schemas:
    """Fresh schemas: built-in kinds from the live apiserver, plus the test CRD's."""
    k8s = tmp_path_factory.mktemp("k8s-schemas")
    crds = tmp_path_factory.mktemp("crd-schemas")
    (crds / "crd.yaml").write_text(CRD)
    started = time.monotonic()
    generate_kube_schemas(k8s, kubeconfig=kube_control_plane.kubeconfig)
    generate_kube_schemas(crds, crds=[crds / "crd.yaml"], k8s_schemas=k8s)
    return Schemas(k8s=k8s, crds=crds, seconds=time.monotonic() - started)


@pytest.fixture(scope="module")
def cluster(kube_control_plane: Any) -> Iterator[Any]:
    """The shared control plane with our CRD established and our namespace created."""
    cp = kube_control_plane
    cp.kubectl("apply", "-f", "-", input=CRD)
    cp.kubectl("wait", "--for=condition=Established", f"crd/communities.{GROUP}", "--timeout=60s")
    cp.kubectl("create", "namespace", NAMESPACE)
    try:
        yield cp
    finally:
        cp.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        cp.kubectl("delete", "crd", f"communities.{GROUP}", "--wait=false", check=False)


def server_verdict(cp: Any, manifests: str) -> tuple[bool, str]:
    """Whether the apiserver accepts manifests (server dry run, strict field validation)."""
    proc = cp.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifests, check=False
    )
    return proc.returncode == 0, proc.stderr


def test_generates_strict_schemas_named_for_kubeconform(schemas: Schemas) -> None:
    for name in ("deployment-apps-v1.json", "service-v1.json", "pod-v1.json"):
        assert (schemas.k8s / name).is_file(), name
    assert (schemas.crds / "community-schematest-v1alpha1.json").is_file()
    assert (schemas.k8s / "_definitions.json").is_file()
    assert schemas.seconds < 20, f"generating schemas took {schemas.seconds:.1f} s"

    # Every object schema that lists properties closes them, or kubeconform -strict could
    # not report unknown fields there (allOf/anyOf/oneOf/not branches only add constraints).
    open_objects: list[str] = []

    def walk(node: Any, where: str, structural: bool = True) -> None:
        if not isinstance(node, dict):
            return
        if structural and "properties" in node and "additionalProperties" not in node:
            open_objects.append(where)
        for key in ("properties", "definitions"):
            for name, sub in node.get(key, {}).items():
                walk(sub, f"{where}/{key}/{name}", structural)
        for key in ("additionalProperties", "items"):
            subs = node.get(key)
            for i, sub in enumerate(subs if isinstance(subs, list) else [subs]):
                walk(sub, f"{where}/{key}/{i}", structural)
        for key in ("allOf", "anyOf", "oneOf", "not"):
            subs = node.get(key, [])
            for i, sub in enumerate(subs if isinstance(subs, list) else [subs]):
                walk(sub, f"{where}/{key}/{i}", structural=False)

    for path in [*schemas.k8s.glob("*.json"), *schemas.crds.glob("*.json")]:
        if path.name != "_index.json":
            walk(json.loads(path.read_text()), path.name)
    assert open_objects == []


def test_valid_manifests_pass(
    schemas: Schemas, cluster: Any, kubeconform: Callable[..., Any]
) -> None:
    manifests = "---\n".join([DEPLOYMENT, SERVICE, COMMUNITY])
    ok, messages = kubeconform(schemas.dirs, manifests)
    assert ok, messages
    assert kubeconform(schemas.dirs, manifests).summary["valid"] == 3
    assert server_verdict(cluster, manifests) == (True, "")


def test_unknown_field_fails(
    schemas: Schemas, cluster: Any, kubeconform: Callable[..., Any]
) -> None:
    ok, messages = kubeconform(schemas.dirs, DEPLOYMENT_TYPO)
    assert not ok
    assert any("/spec" in m and "'replicass' not allowed" in m for m in messages), messages
    accepted, error = server_verdict(cluster, DEPLOYMENT_TYPO)
    assert not accepted
    assert "replicass" in error


def test_custom_resource_violating_its_crd_fails(
    schemas: Schemas, cluster: Any, kubeconform: Callable[..., Any]
) -> None:
    ok, messages = kubeconform(schemas.dirs, COMMUNITY_WRONG_TYPE)
    assert not ok
    assert any("at /spec/replicas: got string, want integer" in m for m in messages), messages
    accepted, error = server_verdict(cluster, COMMUNITY_WRONG_TYPE)
    assert not accepted
    assert "spec.replicas" in error

    # The CRD's schema is strict too, and a kind without any schema is an error.
    ok, messages = kubeconform(schemas.dirs, COMMUNITY.replace("  port:", "  portt:"))
    assert not ok
    assert any("'portt' not allowed" in m for m in messages), messages
    # Its metadata is checked as the apiserver checks it: as ObjectMeta.
    bad_metadata = COMMUNITY.replace("labels:", "labelz:")
    ok, messages = kubeconform(schemas.dirs, bad_metadata)
    assert not ok
    assert any("/metadata" in m and "'labelz' not allowed" in m for m in messages), messages
    assert not server_verdict(cluster, bad_metadata)[0]
    ok, messages = kubeconform(schemas.k8s, COMMUNITY)
    assert not ok
    assert any("could not find schema for Community" in m for m in messages), messages


def test_what_the_apiserver_returns_validates(
    kube_schemas: Path,
    crd_schemas: Callable[[str], Path],
    cluster: Any,
    kubeconform: Callable[..., Any],
) -> None:
    """Objects as stored (status, managedFields, defaults, nulls) pass the cached schemas."""
    cluster.kubectl("apply", "-f", "-", input="---\n".join([DEPLOYMENT, SERVICE, COMMUNITY]))
    # KWOK's fake nodes run the pods, so they come back with a full status too.
    cluster.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/web", "--timeout=60s")
    listed = cluster.kubectl(
        "get",
        f"deployments,replicasets,pods,services,communities.{GROUP}",
        "-n",
        NAMESPACE,
        "-o",
        "json",
    )
    items = json.loads(listed.stdout)["items"]
    assert {i["kind"] for i in items} >= {"Deployment", "ReplicaSet", "Pod", "Service", "Community"}
    ok, messages = kubeconform([kube_schemas, crd_schemas(CRD)], yaml.safe_dump_all(items))
    assert ok, messages
