"""The Helm chart charts/spectrus: lint, what it renders, its values schema, and that the API
server accepts the rendering and the example Communities.

Rendering tests need only the cached helm binary; the server-side dry runs use the real
control plane (``kube_control_plane`` from conftest). The Prometheus Operator's CRDs are not
installed there, so the ServiceMonitor/PodMonitor rendering is checked by structure here,
not by the API server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "spectrus"
CONTROL_PLANE = ROOT / "scripts" / "kube-control-plane.sh"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
RELEASE = "t"
OPERATOR = f"{RELEASE}-spectrus-operator"

ALL_ON = "redis.enabled=true,postgresql.enabled=true,serviceMonitor.enabled=true"
WRITE = ["get", "list", "watch", "create", "patch", "delete"]
# What the operator calls the API for (kopf and spectrus_operator.kube), and nothing more.
OPERATOR_RULES = {
    ("spectrus.io", "communities"): ["get", "list", "watch", "patch", "update"],
    ("spectrus.io", "communities/status"): ["get", "patch", "update"],
    ("", "events"): ["create", "patch"],
    ("", "configmaps"): WRITE,
    ("", "secrets"): WRITE,
    ("", "services"): WRITE,
    ("", "pods"): WRITE,
    ("apps", "deployments"): WRITE,
    ("batch", "jobs"): WRITE,
    ("autoscaling", "horizontalpodautoscalers"): WRITE,
    ("policy", "poddisruptionbudgets"): WRITE,
    ("networking.k8s.io", "ingresses"): WRITE,
    ("networking.k8s.io", "networkpolicies"): WRITE,
}
CRD_RULES = {("apiextensions.k8s.io", "customresourcedefinitions"): ["get", "list", "watch"]}
NAMESPACE_RULES = {("", "namespaces"): ["list", "watch"]}
# The Grafana dashboards the chart ships (uid spectrus-<name>); tests/test_dashboards.py
# checks their queries against the processes' metrics.
DASHBOARDS = ("overview", "api", "gateway", "voice", "operator")


# -- helpers ---------------------------------------------------------------------------


class Helm:
    def __init__(self, bin_dir: Path, home: Path, env: dict[str, str] | None = None) -> None:
        self.path = bin_dir / "helm"
        # helm keeps caches and config under these; never the user's.
        self.env = {
            **(env or os.environ),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.path), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def template(self, *sets: str, namespace: str = "spectrus-system") -> str:
        args = ["template", RELEASE, str(CHART), "--namespace", namespace]
        for value in sets:
            args += ["--set", value]
        return self.run(*args).stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(helm: Helm, *sets: str) -> list[dict[str, Any]]:
    return documents(helm.template(*sets))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}: {[d['metadata'] for d in found]}"
    return found[0]


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no names, no URLs
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = (group, resource)
                assert key not in out, f"{key} granted twice"
                out[key] = sorted(rule["verbs"])
    return out


def sorted_rules(rules: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    return {key: sorted(verbs) for key, verbs in rules.items()}


def no_wildcards(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            no_wildcards(item)
    elif isinstance(value, list):
        for item in value:
            no_wildcards(item)
    else:
        assert value != "*", "wildcard in RBAC"


@pytest.fixture(scope="module")
def helm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The cached helm; only when it is missing is the control plane fixture (which builds
    the binaries) brought in, so rendering tests do not need a cluster."""
    out = subprocess.run(
        [str(CONTROL_PLANE), "path"], capture_output=True, text=True, check=True, timeout=30
    )
    bin_dir = Path(out.stdout.strip())
    if not os.access(bin_dir / "helm", os.X_OK):
        bin_dir = request.getfixturevalue("kube_control_plane").bin
    return Helm(bin_dir, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def kube_helm(kube_control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(
        kube_control_plane.bin, tmp_path_factory.mktemp("helm-home"), kube_control_plane.env
    )


# -- lint and schema -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sets",
    [
        [],
        [ALL_ON],
        ["operator.watchNamespaces={a,b}"],
        ["crds.install=false,dashboards.enabled=false,rbac.create=false"],
    ],
    ids=["defaults", "everything-on", "namespaced", "minimal"],
)
def test_lint_strict(helm: Helm, sets: list[str]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for value in sets:
        args += ["--set", value]
    proc = helm.run(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert chart["version"] == chart["appVersion"] == "0.1.0"
    assert chart["kubeVersion"] == ">=1.29.0-0"


def test_schema_covers_every_value() -> None:
    """Every key of values.yaml is described by values.schema.json, which allows nothing
    else at any level it defines."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(value: Any, node: dict[str, Any], where: str) -> None:
        if "properties" not in node:
            return  # a free-form map (annotations, resources' quantities, affinity)
        assert node.get("additionalProperties") is False, f"{where or '/'} is not strict"
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert key in node["properties"], f"{where}/{key} is not in the schema"
            check(item, node["properties"][key], f"{where}/{key}")

    check(values, schema, "")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("operator.image.pullPolicy=Sometimes", "/operator/image/pullPolicy"),
        ("operator.replicas=2", "replicas"),  # one operator, always: not a value
        ("operator.resyncSeconds=0", "/operator/resyncSeconds"),
        ("redis.persistence.size=lots", "/redis/persistence/size"),
        ("serviceMonitor.interval=often", "/serviceMonitor/interval"),
        ("postgresql.enabled=yes", "/postgresql/enabled"),  # a string, not a boolean
    ],
)
def test_schema_rejects_bad_values(helm: Helm, value: str, complaint: str) -> None:
    proc = helm.run("template", RELEASE, str(CHART), "--set", value, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert complaint in proc.stderr, proc.stderr


# -- the operator ----------------------------------------------------------------------


def test_operator_deployment(helm: Helm) -> None:
    docs = render(helm)
    deployment = one(docs, "Deployment", OPERATOR)
    spec = deployment["spec"]
    # kopf operators of equal priority freeze each other: one, replaced, never rolled.
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    # The operator's media NetworkPolicy admits exactly this label to the control port.
    assert labels["app.kubernetes.io/name"] == "spectrus-operator"
    assert set(spec["selector"]["matchLabels"].items()) <= set(labels.items())
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/spectrus/spectrus-operator:0.1.0"
    assert container["command"] == [
        "spectrus-operator",
        "--health",
        "http://0.0.0.0:8080/healthz",
        "--metrics-port",
        "8081",
    ]
    assert {"name": "SPECTRUS_OPERATOR_RESYNC", "value": "30"} in container["env"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert container["resources"]["requests"]["memory"] == "128Mi"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    account = one(docs, "ServiceAccount", OPERATOR)
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    service = one(docs, "Service", OPERATOR)
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_operator_values(helm: Helm) -> None:
    docs = render(
        helm,
        "operator.watchNamespaces={team-a,team-b}",
        "operator.image.tag=1.2.3,operator.image.registry=registry.local/x",
        "operator.resyncSeconds=120,operator.verbose=true",
    )
    (container,) = one(docs, "Deployment", OPERATOR)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.local/x/spectrus-operator:1.2.3"
    assert container["command"] == [
        "spectrus-operator",
        "--namespace",
        "team-a",
        "--namespace",
        "team-b",
        "--health",
        "http://0.0.0.0:8080/healthz",
        "--metrics-port",
        "8081",
        "--verbose",
    ]
    assert {"name": "SPECTRUS_OPERATOR_RESYNC", "value": "120"} in container["env"]


def test_rbac_cluster_wide(helm: Helm) -> None:
    docs = render(helm)
    assert not of_kind(docs, "Role") and not of_kind(docs, "RoleBinding")
    role = one(docs, "ClusterRole")
    no_wildcards(role["rules"])
    assert rules_of(role) == sorted_rules(OPERATOR_RULES | CRD_RULES | NAMESPACE_RULES)
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": OPERATOR, "namespace": "spectrus-system"}
    ]


def test_rbac_namespaced(helm: Helm) -> None:
    docs = render(helm, "operator.watchNamespaces={team-a,team-b}")
    cluster_role = one(docs, "ClusterRole")
    # Cluster-wide only what kopf needs there; not even namespaces.
    assert rules_of(cluster_role) == sorted_rules(CRD_RULES)
    roles = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        no_wildcards(role["rules"])
        assert rules_of(role) == sorted_rules(OPERATOR_RULES)
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": OPERATOR,
        }
        assert binding["subjects"][0]["namespace"] == "spectrus-system"


def test_rbac_matches_the_operator() -> None:
    """Every kind the operator's client writes is granted; nothing it does not touch is."""
    from spectrus_operator.kube import RESOURCES

    granted = {resource for _, resource in OPERATOR_RULES}
    for kind, (_, plural) in RESOURCES.items():
        assert plural in granted, kind
    assert {r for r in granted if "/" not in r} == {plural for _, plural in RESOURCES.values()}


def test_crd(helm: Helm) -> None:
    crd = one(render(helm), "CustomResourceDefinition", "communities.spectrus.io")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not of_kind(render(helm, "crds.install=false"), "CustomResourceDefinition")


def test_helm_test_pod(helm: Helm) -> None:
    pod = one(render(helm), "Pod", f"{OPERATOR}-test")
    annotations = pod["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/spectrus/spectrus-operator:0.1.0"
    assert container["command"][:2] == ["python", "-c"]
    script = container["command"][2]
    assert f"http://{OPERATOR}.spectrus-system.svc:8080/healthz" in script
    compile(script, "helm-test", "exec")  # the script is valid Python


def test_notes(helm: Helm) -> None:
    proc = helm.run("install", RELEASE, str(CHART), "--dry-run=client", "--set", ALL_ON)
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl get communities -w" in notes
    assert "status.endpoints" in notes and "status.media" in notes
    assert "secretRef: {name: t-spectrus-postgresql, key: url}" in notes


# -- dashboards and monitors -----------------------------------------------------------


def test_dashboards(helm: Helm) -> None:
    files = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert files == sorted(f"{d}.json" for d in DASHBOARDS)
    maps = of_kind(render(helm), "ConfigMap")
    assert sorted(m["metadata"]["name"] for m in maps) == sorted(
        f"t-spectrus-dashboard-{d}" for d in DASHBOARDS
    )
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"]["grafana_folder"] == "Spectrus"
        ((name, text),) = config_map["data"].items()
        assert name in files
        dashboard = json.loads(text)
        assert dashboard == json.loads((CHART / "dashboards" / name).read_text())
    for name in DASHBOARDS:
        dashboard = json.loads((CHART / "dashboards" / f"{name}.json").read_text())
        assert dashboard["uid"] == f"spectrus-{name}"
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"

    custom = render(
        helm,
        "dashboards.label=dashboards,dashboards.labelValue=spectrus",
        "dashboards.namespace=monitoring",
    )
    for config_map in of_kind(custom, "ConfigMap"):
        assert config_map["metadata"]["labels"]["dashboards"] == "spectrus"
        assert config_map["metadata"]["namespace"] == "monitoring"
    assert not of_kind(render(helm, "dashboards.enabled=false"), "ConfigMap")


def test_monitors(helm: Helm) -> None:
    assert not of_kind(render(helm), "ServiceMonitor")
    docs = render(
        helm, "serviceMonitor.enabled=true,serviceMonitor.release=prom,serviceMonitor.interval=15s"
    )
    monitors = of_kind(docs, "ServiceMonitor") + of_kind(docs, "PodMonitor")
    assert len(monitors) == 3
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prom"
        endpoints = monitor["spec"].get("endpoints") or monitor["spec"]["podMetricsEndpoints"]
        assert all(e["interval"] == "15s" and e["path"] == "/metrics" for e in endpoints)

    communities = one(docs, "ServiceMonitor", "t-spectrus-communities")["spec"]
    assert communities["namespaceSelector"] == {"any": True}
    assert communities["selector"]["matchLabels"] == {"app.kubernetes.io/part-of": "spectrus"}
    assert communities["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["api", "gateway"]}
    ]
    assert communities["endpoints"][0]["port"] == "http"

    media = one(docs, "PodMonitor")["spec"]
    (endpoint,) = media["podMetricsEndpoints"]
    assert endpoint["port"] == "voice-tcp"
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}

    operator = one(docs, "ServiceMonitor", OPERATOR)["spec"]
    service = one(docs, "Service", OPERATOR)
    assert set(operator["selector"]["matchLabels"].items()) <= set(
        service["metadata"]["labels"].items()
    )
    # The operator serves its metrics on their own port (kopf's health server is separate).
    assert operator["endpoints"][0]["port"] == "metrics"
    assert {"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"} in service[
        "spec"
    ]["ports"]


def test_monitors_select_what_the_operator_creates(helm: Helm) -> None:
    """The selectors and port names match the operator's own manifests."""
    from spectrus_operator import manifests as m
    from spectrus_operator.spec import parse

    example = documents((CHART / "examples" / "community.yaml").read_text())
    community = {**one(example, "Community"), "apiVersion": "spectrus.io/v1alpha1"}
    community["metadata"] |= {"namespace": "default", "uid": "0"}
    spec = parse(community["spec"])
    docs = render(helm, "serviceMonitor.enabled=true")

    selector = one(docs, "ServiceMonitor", "t-spectrus-communities")["spec"]["selector"]
    for component in ("api", "gateway"):
        service = m.service(community, component)
        labels = service["metadata"]["labels"]
        assert set(selector["matchLabels"].items()) <= set(labels.items())
        assert labels["app.kubernetes.io/component"] in selector["matchExpressions"][0]["values"]
        assert "http" in {p["name"] for p in service["spec"]["ports"]}

    pod = m.media_pod(community, spec, 0, 30000)
    pod_selector = one(docs, "PodMonitor")["spec"]["selector"]["matchLabels"]
    assert set(pod_selector.items()) <= set(pod["metadata"]["labels"].items())
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert "voice-tcp" in ports

    # The media NetworkPolicy lets the operator's pods reach the control port.
    policy = m.media_network_policy(community)
    operator_labels = one(docs, "Deployment", OPERATOR)["spec"]["template"]["metadata"]["labels"]
    admitted = [
        peer["podSelector"]["matchLabels"]
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
        if "namespaceSelector" in peer
    ]
    assert any(set(a.items()) <= set(operator_labels.items()) for a in admitted)


# -- in-chart Redis and PostgreSQL -----------------------------------------------------


def test_in_chart_databases(helm: Helm) -> None:
    assert not of_kind(render(helm), "StatefulSet")
    docs = render(
        helm,
        "redis.enabled=true,postgresql.enabled=true",
        "postgresql.persistence.size=20Gi,postgresql.persistence.storageClass=fast",
    )
    for name, port, image in (
        ("t-spectrus-redis", 6379, "redis:7.4-alpine"),
        ("t-spectrus-postgresql", 5432, "postgres:17-alpine"),
    ):
        service = one(docs, "Service", name)
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["ports"][0]["port"] == port
        sts = one(docs, "StatefulSet", name)
        assert sts["spec"]["serviceName"] == name
        assert set(service["spec"]["selector"].items()) <= set(
            sts["spec"]["template"]["metadata"]["labels"].items()
        )
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        assert container["image"] == image
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        secret = one(docs, "Secret", name)
        assert len(_b64(secret["data"]["password"])) == 32

    claim = one(docs, "StatefulSet", "t-spectrus-postgresql")["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    claim = one(docs, "StatefulSet", "t-spectrus-redis")["spec"]["volumeClaimTemplates"][0]
    assert "storageClassName" not in claim["spec"]

    data = one(docs, "Secret", "t-spectrus-postgresql")["data"]
    password = _b64(data["password"])
    assert _b64(data["url"]) == (
        f"postgresql://spectrus:{password}@t-spectrus-postgresql.spectrus-system.svc:5432/spectrus"
    )


def _b64(value: str) -> str:
    return base64.b64decode(value).decode()


# -- strict schemas, offline ---------------------------------------------------------


def test_kubeconform_strict(
    helm: Helm, kube_schemas: Path, kubeconform: Any, crd_schemas: Any
) -> None:
    """Every rendered object against the strict schemas of the API server's OpenAPI, and
    the examples against the CRD's. The Prometheus Operator's kinds have no schema here
    (its CRDs are not vendored): the monitors are skipped, and checked by structure above."""
    rendered = helm.template(f"{ALL_ON},operator.watchNamespaces={{a,b}}")
    ok, messages = kubeconform([kube_schemas], rendered, "-skip", "ServiceMonitor,PodMonitor")
    assert ok, "\n".join(messages)
    rendered = helm.template(ALL_ON)
    ok, messages = kubeconform([kube_schemas], rendered, "-skip", "ServiceMonitor,PodMonitor")
    assert ok, "\n".join(messages)

    crd = helm.run(
        "template", RELEASE, str(CHART), "--show-only", "templates/crd-communities.yaml"
    ).stdout
    schemas = crd_schemas(crd)
    for example in EXAMPLES:
        ok, messages = kubeconform([kube_schemas, schemas], example.read_text())
        assert ok, f"{example.name}: " + "\n".join(messages)


# -- against the API server ------------------------------------------------------------


@pytest.fixture
def namespaces(kube_control_plane: Any) -> Iterator[list[str]]:
    """Namespaces made for one test (Pod Security "restricted" enforced), deleted after."""
    made: list[str] = []
    yield made
    for name in made:
        kube_control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def make_namespace(kube_control_plane: Any, made: list[str], prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube_control_plane.kubectl("create", "namespace", name)
    made.append(name)
    kube_control_plane.kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return name


def server_dry_run(kube_control_plane: Any, manifests: str, namespace: str | None = None) -> str:
    """kubectl apply --dry-run=server; the chart's objects name their namespaces themselves."""
    where = ["-n", namespace] if namespace else []
    proc = kube_control_plane.kubectl(
        "apply", "--dry-run=server", *where, "-f", "-", input=manifests, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # Warnings (Pod Security, deprecated APIs, unknown fields) count as failures too.
    assert "Warning" not in proc.stderr, proc.stderr
    return str(proc.stdout)


def test_server_dry_run_chart(
    kube_control_plane: Any, kube_helm: Helm, namespaces: list[str]
) -> None:
    namespace = make_namespace(kube_control_plane, namespaces, "chart")
    rendered = kube_helm.template("redis.enabled=true,postgresql.enabled=true", namespace=namespace)
    out = server_dry_run(kube_control_plane, rendered)
    for kind, name in [
        ("customresourcedefinition.apiextensions.k8s.io", "communities.spectrus.io"),
        ("deployment.apps", OPERATOR),
        ("statefulset.apps", "t-spectrus-redis"),
        ("statefulset.apps", "t-spectrus-postgresql"),
        ("clusterrole.rbac.authorization.k8s.io", f"{OPERATOR}-{namespace}"),
        ("pod", f"{OPERATOR}-test"),
    ]:
        assert f"{kind}/{name} created (server dry run)" in out, out


def test_server_dry_run_chart_namespaced(
    kube_control_plane: Any, kube_helm: Helm, namespaces: list[str]
) -> None:
    home = make_namespace(kube_control_plane, namespaces, "chart")
    team_a = make_namespace(kube_control_plane, namespaces, "team")
    team_b = make_namespace(kube_control_plane, namespaces, "team")
    rendered = kube_helm.template(f"operator.watchNamespaces={{{team_a},{team_b}}}", namespace=home)
    out = server_dry_run(kube_control_plane, rendered)
    assert out.count("role.rbac.authorization.k8s.io/t-spectrus-operator created") == 2, out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_server_dry_run_examples(
    kube_control_plane: Any, kube_helm: Helm, namespaces: list[str], example: Path
) -> None:
    # The CRD for real (the dry runs of the Communities need it served); kept afterwards,
    # like the chart keeps it, since other tests share the control plane.
    crd = kube_helm.run(
        "template", RELEASE, str(CHART), "--show-only", "templates/crd-communities.yaml"
    ).stdout
    kube_control_plane.kubectl("apply", "-f", "-", input=crd)
    kube_control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/communities.spectrus.io", "--timeout=60s"
    )
    namespace = make_namespace(kube_control_plane, namespaces, "example")
    out = server_dry_run(kube_control_plane, example.read_text(), namespace)
    assert "community.spectrus.io/" in out and "created (server dry run)" in out, out


def test_generated_passwords_survive_upgrade(
    kube_control_plane: Any, kube_helm: Helm, namespaces: list[str]
) -> None:
    """A real install and upgrade: the in-chart databases keep their generated passwords
    (the data was initialised with them). No CRD (other tests share the cluster's)."""
    namespace = make_namespace(kube_control_plane, namespaces, "upgrade")
    values = "redis.enabled=true,postgresql.enabled=true,crds.install=false,rbac.create=false"

    def passwords() -> dict[str, str]:
        out = {}
        for name, key in [
            ("pw-spectrus-redis", "password"),
            ("pw-spectrus-postgresql", "password"),
            ("pw-spectrus-postgresql", "url"),
        ]:
            got = kube_control_plane.kubectl(
                "-n", namespace, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}"
            )
            out[f"{name}/{key}"] = _b64(got.stdout)
        return out

    chart = ["pw", str(CHART), "--namespace", namespace, "--set", values]
    kube_helm.run("install", *chart)
    try:
        before = passwords()
        assert before["pw-spectrus-redis/password"] != before["pw-spectrus-postgresql/password"]
        kube_helm.run("upgrade", *chart)
        assert passwords() == before
    finally:
        kube_helm.run("uninstall", "pw", "--namespace", namespace, check=False)
