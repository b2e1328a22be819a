"""The operator's manifest builders, spec in and objects out, one test per spec field.

The operator's unit tests live here rather than in operator/tests: pytest (importlib mode)
names test modules after their path, and a top-level `operator` package would shadow the
standard library's for every test collected after them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from spectrus_domain import tracing
from spectrus_domain.config import load_settings
from spectrus_operator import manifests as m
from spectrus_operator.spec import parse

CRD = Path(__file__).parents[2] / "charts/spectrus/files/crd-communities.yaml"

OWNER: dict[str, Any] = {
    "apiVersion": "spectrus.io/v1alpha1",
    "kind": "Community",
    "metadata": {"name": "demo", "namespace": "team", "uid": "u-1", "generation": 1},
    "spec": {
        "hostname": "chat.example.org",
        "postgres": {"secretRef": {"name": "demo-db"}},
        "redis": {"cluster": {"nodes": ["r0:6379", "r1:6379"]}},
    },
}


def community(**spec: Any) -> tuple[dict[str, Any], Any]:
    owner = copy.deepcopy(OWNER)
    owner["spec"] |= spec
    return owner, parse(owner["spec"])


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def container(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    return dict(spec["containers"][0])


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"])


def test_defaults_here_match_the_crd_defaults() -> None:
    """The parser repeats the CRD's defaults; if one drifts, bare specs build differently
    from stored ones."""
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]
    spec_schema = schema["openAPIV3Schema"]["properties"]["spec"]["properties"]
    parsed = parse(OWNER["spec"])
    assert parsed.version == spec_schema["version"]["default"]
    image = spec_schema["image"]["properties"]
    assert parsed.registry == image["registry"]["default"]
    assert parsed.pull_policy == image["pullPolicy"]["default"]
    api = spec_schema["api"]["properties"]
    assert parsed.api.replicas == api["replicas"]["default"]
    scaling = api["autoscaling"]["properties"]
    assert parsed.api.autoscaling.min_replicas == scaling["minReplicas"]["default"]
    assert parsed.api.autoscaling.max_replicas == scaling["maxReplicas"]["default"]
    assert parsed.api.autoscaling.target_cpu == scaling["targetCPUUtilizationPercentage"]["default"]
    media = spec_schema["media"]["properties"]
    assert parsed.media.replicas == media["replicas"]["default"]
    assert parsed.media.drain_timeout == media["drainTimeoutSeconds"]["default"]
    ports = media["udp"]["properties"]["portRange"]["properties"]
    assert (parsed.media.port_start, parsed.media.port_end) == (
        ports["start"]["default"],
        ports["end"]["default"],
    )
    limits = spec_schema["limits"]["properties"]
    assert parsed.upload_bytes == limits["uploadBytes"]["default"]
    assert parsed.max_members == limits["members"]["default"]


def test_every_child_is_labelled_and_owned() -> None:
    owner, spec = community()
    children = [
        m.config_map(owner, spec),
        m.keys_secret(owner, "k" * 64),
        m.media_nodes_config_map(owner, []),
        m.deployment(owner, spec, "api", "0.1.0"),
        m.deployment(owner, spec, "gateway", "0.1.0"),
        m.service(owner, "api"),
        m.disruption_budget(owner, "gateway"),
        m.ingress(owner, spec),
        m.migration_job(owner, spec),
        m.media_pod(owner, spec, 0, 30000),
        m.media_network_policy(owner),
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "team"
        assert meta["labels"][m.COMMUNITY_LABEL] == "demo"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "spectrus-operator"
        (ref,) = meta["ownerReferences"]
        assert ref == {
            "apiVersion": "spectrus.io/v1alpha1",
            "kind": "Community",
            "name": "demo",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_config_map_holds_settings_the_processes_accept() -> None:
    owner, spec = community()
    data = m.config_map(owner, spec)["data"]
    settings = load_settings(environ=data)
    assert settings.host == "0.0.0.0"
    assert settings.redis_cluster is True
    assert settings.node_id_lease is True
    assert settings.trust_proxy is True


def test_hostname_and_tls() -> None:
    owner, spec = community()
    data = m.config_map(owner, spec)["data"]
    assert data["SPECTRUS_PUBLIC_URL"] == "http://chat.example.org"
    assert data["SPECTRUS_GATEWAY_URL"] == "ws://chat.example.org/gateway"
    ingress = m.ingress(owner, spec)
    assert ingress["spec"]["rules"][0]["host"] == "chat.example.org"
    assert "tls" not in ingress["spec"]
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {"/gateway": "demo-gateway", "/": "demo-api"}

    owner, spec = community(tls={"secretName": "chat-tls"})
    data = m.config_map(owner, spec)["data"]
    assert data["SPECTRUS_PUBLIC_URL"] == "https://chat.example.org"
    assert data["SPECTRUS_GATEWAY_URL"] == "wss://chat.example.org/gateway"
    assert m.ingress(owner, spec)["spec"]["tls"] == [
        {"hosts": ["chat.example.org"], "secretName": "chat-tls"}
    ]


def test_ingress_class_and_annotations() -> None:
    owner, spec = community(ingress={"className": "nginx", "annotations": {"a/b": "c"}})
    ingress = m.ingress(owner, spec)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {"a/b": "c"}


def test_version_and_image() -> None:
    owner, spec = community(
        version="1.2.3",
        image={"registry": "reg.example/team/", "pullPolicy": "Always", "pullSecrets": ["pull"]},
    )
    api = m.deployment(owner, spec, "api", spec.release)
    assert container(api)["image"] == "reg.example/team/spectrus-api:1.2.3"
    assert container(api)["imagePullPolicy"] == "Always"
    assert pod_spec(api)["imagePullSecrets"] == [{"name": "pull"}]
    assert container(m.deployment(owner, spec, "gateway", "1.2.3"))["image"].endswith(
        "/spectrus-gateway:1.2.3"
    )
    assert container(m.media_pod(owner, spec, 0, 30000))["image"].endswith("/spectrus-media:1.2.3")
    job = m.migration_job(owner, spec)
    assert container(job)["image"] == "reg.example/team/spectrus-api:1.2.3"
    assert container(job)["args"] == ["migrate"]

    owner, tagged = community(version="1.2.3", image={"tag": "1.2.3-hotfix"})
    assert tagged.release == "1.2.3-hotfix"
    assert m.migration_job_name(owner, tagged) != m.migration_job_name(owner, spec)
    # The Deployment runs the release it is given (the last one migrated), not the spec's.
    assert container(m.deployment(owner, tagged, "api", "1.2.3"))["image"].endswith(":1.2.3")


def test_workload_replicas_resources_and_autoscaling() -> None:
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    owner, spec = community(gateway={"replicas": 3, "resources": resources})
    gateway = m.deployment(owner, spec, "gateway", "0.1.0")
    assert gateway["spec"]["replicas"] == 3
    assert container(gateway)["resources"] == resources
    assert m.autoscaler(owner, spec, "gateway") is None

    owner, spec = community(
        api={
            "autoscaling": {
                "enabled": True,
                "minReplicas": 3,
                "maxReplicas": 7,
                "targetCPUUtilizationPercentage": 55,
            }
        }
    )
    api = m.deployment(owner, spec, "api", "0.1.0")
    assert "replicas" not in api["spec"]  # the HPA owns it
    hpa = m.autoscaler(owner, spec, "api")
    assert hpa is not None
    assert hpa["spec"]["scaleTargetRef"]["name"] == "demo-api"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 7)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55


def test_config_change_rolls_the_deployments() -> None:
    owner, spec = community()
    _, other = community(limits={"uploadBytes": 1 << 20})

    def hash_of(s: Any) -> str:
        return str(
            m.deployment(owner, s, "api", "0.1.0")["spec"]["template"]["metadata"]["annotations"][
                m.HASH_ANNOTATION
            ]
        )

    assert hash_of(spec) != hash_of(other)
    assert hash_of(spec) == hash_of(parse(copy.deepcopy(OWNER["spec"])))


def test_postgres_and_secret_key_come_from_secrets() -> None:
    owner, spec = community(postgres={"secretRef": {"name": "pg", "key": "dsn"}})
    env = env_of(container(m.deployment(owner, spec, "api", "0.1.0")))
    assert env["SPECTRUS_DATABASE_URL"] == {"secretKeyRef": {"name": "pg", "key": "dsn"}}
    assert env["SPECTRUS_SECRET_KEY"] == {
        "secretKeyRef": {"name": "demo-keys", "key": "secret-key"}
    }
    secret = m.keys_secret(owner, "s" * 64)
    assert secret["stringData"] == {"secret-key": "s" * 64}


def test_redis_cluster_shards_password_and_tls() -> None:
    owner, spec = community()
    env = env_of(container(m.deployment(owner, spec, "gateway", "0.1.0")))
    assert env["SPECTRUS_REDIS_URLS"] == "redis://r0:6379,redis://r1:6379"
    assert m.config_map(owner, spec)["data"]["SPECTRUS_REDIS_CLUSTER"] == "true"

    owner, spec = community(
        redis={"shards": ["a:1", "b:2"], "passwordSecretRef": {"name": "rp"}, "tls": True}
    )
    env = env_of(container(m.deployment(owner, spec, "api", "0.1.0")))
    assert env["SPECTRUS_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "rp", "key": "password"}}
    assert env["SPECTRUS_REDIS_URLS"] == "rediss://a:1,rediss://b:2"  # no secret in URLs
    assert m.config_map(owner, spec)["data"]["SPECTRUS_REDIS_CLUSTER"] == "false"


def test_storage_s3() -> None:
    owner, spec = community()
    assert "SPECTRUS_S3_BUCKET" not in m.config_map(owner, spec)["data"]
    owner, spec = community(
        storage={
            "s3": {"bucket": "files", "endpoint": "https://s3.example", "credentialsSecret": "s3"}
        }
    )
    data = m.config_map(owner, spec)["data"]
    assert (
        data["SPECTRUS_S3_BUCKET"],
        data["SPECTRUS_S3_ENDPOINT"],
        data["SPECTRUS_S3_REGION"],
    ) == (
        "files",
        "https://s3.example",
        "us-east-1",
    )
    env = env_of(container(m.deployment(owner, spec, "api", "0.1.0")))
    assert env["SPECTRUS_S3_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3", "key": "secret-access-key"}
    }
    assert load_settings(environ=data).s3_bucket == "files"


def test_limits() -> None:
    owner, spec = community(limits={"members": 500, "uploadBytes": 1 << 20, "retentionDays": 30})
    settings = load_settings(environ=m.config_map(owner, spec)["data"])
    assert (settings.max_accounts, settings.upload_limit, settings.message_retention_days) == (
        500,
        1 << 20,
        30,
    )


def test_features() -> None:
    owner, spec = community(features={"registration": False, "linkPreviews": False})
    settings = load_settings(environ=m.config_map(owner, spec)["data"])
    assert settings.registration == "closed"
    assert settings.link_previews is False
    _, spec = community(features={"voice": False})
    assert spec.voice is False  # the reconcile then wants no media pods (see test_media_plan)


def test_admins_and_tracing() -> None:
    owner, spec = community()
    data = m.config_map(owner, spec)["data"]
    assert not any(k.startswith("OTEL_") for k in data)  # traces are off by default
    assert load_settings(environ=data).admins == ""
    owner, spec = community(
        admins=["ops", "Alice"],
        tracing={"otlpEndpoint": "http://collector.obs:4318", "sampleRatio": 0.25},
    )
    data = m.config_map(owner, spec)["data"]
    assert load_settings(environ=data).admins == "ops,Alice"
    assert tracing.wanted(data) == ["otlp"]
    assert (data["OTEL_TRACES_SAMPLER"], data["OTEL_TRACES_SAMPLER_ARG"]) == (
        "parentbased_traceidratio",
        "0.25",
    )


@pytest.mark.parametrize("mode", ["HostPort", "HostNetwork"])
def test_media_pod(mode: str) -> None:
    resources = {"limits": {"cpu": "2"}}
    owner, spec = community(
        media={
            "replicas": 2,
            "threads": 2,
            "resources": resources,
            "udp": {"mode": mode, "portRange": {"start": 31000, "end": 31009}},
        }
    )
    pod = m.media_pod(owner, spec, 1, 31004)
    c = container(pod)
    env = env_of(c)
    assert env["SPECTRUS_VOICE_PORT"] == "31004"
    assert env["SPECTRUS_VOICE_THREADS"] == "2"
    assert env["SPECTRUS_VOICE_PUBLIC_HOST"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert c["resources"] == resources
    voice = [p for p in c["ports"] if p["name"].startswith("voice")]
    assert {p["protocol"] for p in voice} == {"UDP", "TCP"}
    assert all(p["containerPort"] == 31004 for p in voice)
    if mode == "HostPort":
        assert all(p["hostPort"] == 31004 for p in voice)
        assert "hostNetwork" not in pod["spec"]
    else:
        assert all("hostPort" not in p for p in voice)
        assert pod["spec"]["hostNetwork"] is True
    assert pod["metadata"]["name"].endswith("-1")
    assert pod["metadata"]["annotations"][m.PORT_ANNOTATION] == "31004"
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 31004, "scheme": "HTTPS"}


def test_media_public_address_and_template_hash() -> None:
    owner, spec = community(media={"publicAddress": "203.0.113.7"})
    env = env_of(container(m.media_pod(owner, spec, 0, 30000)))
    assert env["SPECTRUS_VOICE_PUBLIC_HOST"] == "203.0.113.7"
    _, plain = community()
    assert m.media_template_hash(spec) != m.media_template_hash(plain)
    # The drain timeout and replica count change what the operator does, not the pods.
    _, longer = community(media={"drainTimeoutSeconds": 60, "replicas": 3})
    assert m.media_template_hash(longer) == m.media_template_hash(plain)


def test_media_nodes_file_lists_draining_nodes() -> None:
    owner, _ = community()
    data = m.media_nodes_config_map(owner, [("10.0.0.2:8444", False), ("10.0.0.1:8444", True)])
    assert data["data"]["nodes"] == "10.0.0.1:8444 draining\n10.0.0.2:8444\n"


def test_pods_run_unprivileged() -> None:
    owner, spec = community()
    for obj in (
        m.deployment(owner, spec, "api", "0.1.0"),
        m.migration_job(owner, spec),
        m.media_pod(owner, spec, 0, 30000),
    ):
        pod = pod_spec(obj)
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        ctx = container(obj)["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}


def test_media_voice_tls_secret() -> None:
    owner, plain = community()
    env = env_of(container(m.media_pod(owner, plain, 0, 30000)))
    assert "SPECTRUS_VOICE_TLS_CERT" not in env  # each pod makes its own certificate
    owner, spec = community(media={"tlsSecretName": "voice-tls", "publicAddress": "voice.example"})
    pod = m.media_pod(owner, spec, 0, 30000)
    env = env_of(container(pod))
    assert env["SPECTRUS_VOICE_TLS_CERT"] == "/etc/spectrus/voice-tls/tls.crt"
    assert env["SPECTRUS_VOICE_TLS_KEY"] == "/etc/spectrus/voice-tls/tls.key"
    assert {"name": "voice-tls", "secret": {"secretName": "voice-tls"}} in pod["spec"]["volumes"]
    mounts = {v["name"]: v["mountPath"] for v in container(pod)["volumeMounts"]}
    assert mounts["voice-tls"] == "/etc/spectrus/voice-tls"
    assert m.media_template_hash(spec) != m.media_template_hash(plain)  # a new secret rolls
