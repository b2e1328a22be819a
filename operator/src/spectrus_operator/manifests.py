"""Child objects of a ``Community``, built from its spec: spec in, manifests out, no I/O.

Every child carries the same labels (``spectrus.io/community`` finds them all) and an
owner reference to the Community, so Kubernetes' garbage collector removes whatever the
operator's own cleanup misses. Settings reach the processes as ``SPECTRUS_*`` variables
(the names ``spectrus_domain.config`` defines): plain ones through a ConfigMap, secret ones
as references into Secrets, never copied into a manifest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from spectrus_domain.config import env_name
from spectrus_operator.spec import GROUP, KIND, VERSION, CommunitySpec

MANAGER = "spectrus-operator"
COMMUNITY_LABEL = f"{GROUP}/community"
COMPONENT_LABEL = "app.kubernetes.io/component"
HASH_ANNOTATION = f"{GROUP}/config-hash"
PORT_ANNOTATION = f"{GROUP}/voice-port"
DRAINING_LABEL = f"{GROUP}/draining"
RELEASE_ANNOTATION = f"{GROUP}/release"
DRAIN_STARTED_ANNOTATION = f"{GROUP}/drain-started"
HTTP_PORT = 8080
CONTROL_PORT = 8444
DATA_DIR = "/var/lib/spectrus"
MEDIA_NODES_DIR = "/etc/spectrus/media"
VOICE_TLS_DIR = "/etc/spectrus/voice-tls"
SECRET_KEY = "secret-key"  # noqa: S105 - the key's name in the Secret
UID = 10001

Manifest = dict[str, Any]


MANAGED_BY = {"app.kubernetes.io/managed-by": MANAGER}


def labels(name: str, component: str, version: str = "") -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "spectrus",
        "app.kubernetes.io/instance": name,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "spectrus",
        "app.kubernetes.io/managed-by": MANAGER,
        COMMUNITY_LABEL: name,
    }
    if version:
        out["app.kubernetes.io/version"] = version
    return out


def selector(name: str, component: str) -> dict[str, str]:
    return {COMMUNITY_LABEL: name, COMPONENT_LABEL: component}


def owner_reference(owner: Manifest) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(owner: Manifest, name: str, component: str, version: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels(owner["metadata"]["name"], component, version),
        "ownerReferences": [owner_reference(owner)],
    }


def digest(value: Any, length: int = 10) -> str:
    """A short, stable hash of JSON-able data (names and roll triggers)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:length]


def child_name(owner: Manifest, suffix: str) -> str:
    return f"{owner['metadata']['name']}-{suffix}"


# -- configuration ---------------------------------------------------------------------


def settings_env(spec: CommunitySpec) -> dict[str, str]:
    """The plain settings every process of the community shares."""
    values: dict[str, Any] = {
        "host": "0.0.0.0",  # noqa: S104 - inside a pod; Services and policies decide reach
        "port": HTTP_PORT,
        "data_dir": DATA_DIR,
        "public_url": spec.public_url,
        "gateway_url": spec.gateway_url,
        "redis_cluster": spec.redis.cluster,
        "registration": "open" if spec.registration else "closed",
        "link_previews": spec.link_previews,
        "upload_limit": spec.upload_bytes,
        "max_accounts": spec.max_members,
        "message_retention_days": spec.retention_days,
        "trust_proxy": True,  # behind the ingress controller
        "node_id_lease": True,  # replicas share one template: each leases its snowflake node
        "media_control_port": CONTROL_PORT,
    }
    if spec.s3 is not None:
        values |= {
            "s3_bucket": spec.s3.bucket,
            "s3_endpoint": spec.s3.endpoint,
            "s3_region": spec.s3.region,
        }
    if spec.admins:
        values["admins"] = ",".join(spec.admins)
    env = {
        env_name(key): str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in values.items()
    }
    if spec.otlp_endpoint:
        # The standard OpenTelemetry variables, read by the SDK itself.
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": spec.otlp_endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": repr(spec.trace_sample_ratio),
            "OTEL_RESOURCE_ATTRIBUTES": f"spectrus.community={spec.hostname}",
        }
    return env


def config_map(owner: Manifest, spec: CommunitySpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(owner, child_name(owner, "config"), "config"),
        "data": settings_env(spec),
    }


def keys_secret(owner: Manifest, secret_key: str) -> Manifest:
    """Generated once and never rewritten: the operator creates it only when it is absent."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(owner, child_name(owner, "keys"), "keys"),
        "type": "Opaque",
        "stringData": {SECRET_KEY: secret_key},
    }


def media_nodes_config_map(owner: Manifest, nodes: list[tuple[str, bool]]) -> Manifest:
    """The media nodes the gateways place voice on (read from a mounted file, so a change
    reaches them without a restart); draining nodes keep their calls but get no new ones."""
    lines = [f"{address}{' draining' if draining else ''}" for address, draining in nodes]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(owner, child_name(owner, "media-nodes"), "media"),
        "data": {"nodes": "".join(line + "\n" for line in sorted(lines))},
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _redis_env(spec: CommunitySpec) -> list[dict[str, Any]]:
    scheme = "rediss" if spec.redis.tls else "redis"
    urls = ",".join(f"{scheme}://{node}" for node in spec.redis.nodes)
    env: list[dict[str, Any]] = [{"name": env_name("redis_urls"), "value": urls}]
    if spec.redis.password is not None:
        # A setting of its own rather than spliced into the URLs: a password may hold
        # characters a URL cannot, and it stays a reference to the Secret.
        password = spec.redis.password
        env.append(_secret_env(env_name("redis_password"), password.name, password.key))
    return env


def process_env(owner: Manifest, spec: CommunitySpec) -> list[dict[str, Any]]:
    """Variables of the api, gateway and migration containers beyond the ConfigMap's."""
    env = [
        _secret_env(env_name("database_url"), spec.postgres.name, spec.postgres.key),
        _secret_env(env_name("secret_key"), child_name(owner, "keys"), SECRET_KEY),
        *_redis_env(spec),
    ]
    if spec.s3 is not None:
        env += [
            _secret_env(env_name("s3_access_key_id"), spec.s3.credentials, "access-key-id"),
            _secret_env(env_name("s3_secret_access_key"), spec.s3.credentials, "secret-access-key"),
        ]
    return env


# -- pods ------------------------------------------------------------------------------


def _security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_spec(spec: CommunitySpec, containers: list[Manifest], **extra: Any) -> Manifest:
    pod: Manifest = {
        "securityContext": {
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": containers,
        # The root filesystem is read-only: scratch space (uploads being received, the
        # voice certificate) goes to these.
        "volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            *extra.pop("volumes", []),
        ],
        **extra,
    }
    if spec.pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.pull_secrets]
    return pod


def _container(
    owner: Manifest, spec: CommunitySpec, component: str, command: str, image_component: str
) -> Manifest:
    return {
        "name": component,
        "image": spec.image(image_component),
        "imagePullPolicy": spec.pull_policy,
        "args": [command],
        "envFrom": [{"configMapRef": {"name": child_name(owner, "config")}}],
        "env": process_env(owner, spec),
        "securityContext": _security_context(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
        ],
    }


def _http_probes(path: str, port: int | str = "http", scheme: str = "HTTP") -> dict[str, Any]:
    probe = {"httpGet": {"path": path, "port": port, "scheme": scheme}}
    return {
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
    }


def deployment(owner: Manifest, spec: CommunitySpec, component: str, release: str) -> Manifest:
    """The api or gateway Deployment, running ``release`` (the newest whose database
    migration finished)."""
    name = owner["metadata"]["name"]
    workload = spec.api if component == "api" else spec.gateway
    container = _container(owner, spec, component, component, component)
    container["image"] = spec.image(component, release)
    container["ports"] = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    container |= _http_probes("/readyz" if component == "api" else "/healthz")
    container["resources"] = workload.resources
    volumes: list[Manifest] = []
    if component == "gateway":
        container["env"].append(
            {"name": env_name("media_nodes_file"), "value": f"{MEDIA_NODES_DIR}/nodes"}
        )
        container["volumeMounts"].append(
            {"name": "media-nodes", "mountPath": MEDIA_NODES_DIR, "readOnly": True}
        )
        volumes.append(
            {
                "name": "media-nodes",
                "configMap": {"name": child_name(owner, "media-nodes"), "optional": True},
            }
        )
    template_labels = labels(name, component, release)
    pod_spec = _pod_spec(
        spec,
        [container],
        volumes=volumes,
        terminationGracePeriodSeconds=45,  # the servers drain for 30 s on SIGTERM
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(name, component)},
            }
        ],
    )
    out: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(owner, child_name(owner, component), component, release),
        "spec": {
            "selector": {"matchLabels": selector(name, component)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": template_labels,
                    # The ConfigMap is read at start: a change to it must roll the pods.
                    "annotations": {HASH_ANNOTATION: digest(settings_env(spec))},
                },
                "spec": pod_spec,
            },
        },
    }
    if not workload.autoscaling.enabled:
        # With autoscaling on, replicas are the HPA's field: leaving it out of the applied
        # configuration keeps server-side apply from fighting it.
        out["spec"]["replicas"] = workload.replicas
    return out


def autoscaler(owner: Manifest, spec: CommunitySpec, component: str) -> Manifest | None:
    scaling = (spec.api if component == "api" else spec.gateway).autoscaling
    if not scaling.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(owner, child_name(owner, component), component),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": child_name(owner, component),
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu,
                        },
                    },
                }
            ],
        },
    }


def disruption_budget(owner: Manifest, component: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(owner, child_name(owner, component), component),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(owner["metadata"]["name"], component)},
        },
    }


def service(owner: Manifest, component: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(owner, child_name(owner, component), component),
        "spec": {
            "selector": selector(owner["metadata"]["name"], component),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(owner: Manifest, spec: CommunitySpec) -> Manifest:
    def route(path: str, component: str) -> Manifest:
        return {
            "path": path,
            "pathType": "Prefix",
            "backend": {
                "service": {"name": child_name(owner, component), "port": {"name": "http"}}
            },
        }

    body: Manifest = {
        "rules": [
            {
                "host": spec.hostname,
                "http": {"paths": [route("/gateway", "gateway"), route("/", "api")]},
            }
        ]
    }
    if spec.tls_secret:
        body["tls"] = [{"hosts": [spec.hostname], "secretName": spec.tls_secret}]
    if spec.ingress_class:
        body["ingressClassName"] = spec.ingress_class
    meta = _meta(owner, owner["metadata"]["name"], "ingress")
    if spec.ingress_annotations:
        meta["annotations"] = dict(spec.ingress_annotations)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}


def migration_job(owner: Manifest, spec: CommunitySpec) -> Manifest:
    """``spectrus migrate`` with the spec's release. Its name carries the release, so each
    release migrates once, and the api and gateway roll only after its Job succeeded."""
    container = _container(owner, spec, "migrate", "migrate", "api")
    container["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            **_meta(owner, migration_job_name(owner, spec), "migrate", spec.release),
            "annotations": {RELEASE_ANNOTATION: spec.release},
        },
        "spec": {
            "backoffLimit": 4,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": labels(owner["metadata"]["name"], "migrate")},
                "spec": _pod_spec(spec, [container], restartPolicy="Never"),
            },
        },
    }


def migration_job_name(owner: Manifest, spec: CommunitySpec) -> str:
    return child_name(owner, f"migrate-{digest(spec.release, 8)}")


# -- media -----------------------------------------------------------------------------


def media_template_hash(spec: CommunitySpec) -> str:
    """What a media pod is made from; pods with another hash are drained and replaced."""
    return digest(
        {
            "image": spec.image("media"),
            "pull": [spec.pull_policy, list(spec.pull_secrets)],
            "resources": spec.media.resources,
            "threads": spec.media.threads,
            "host_network": spec.media.host_network,
            "public_address": spec.media.public_address,
            "tls_secret": spec.media.tls_secret,
            "env": settings_env(spec),
        },
        8,
    )


def media_pod(owner: Manifest, spec: CommunitySpec, slot: int, port: int) -> Manifest:
    """One media node. Bare pods, not a Deployment: each gets its own voice port from the
    range (published in the status), and the operator drains a pod before deleting it."""
    name = owner["metadata"]["name"]
    template = media_template_hash(spec)
    container = _container(owner, spec, "media", "media", "media")
    container["env"] = [
        {"name": env_name("voice_port"), "value": str(port)},
        {"name": env_name("voice_host"), "value": "0.0.0.0"},  # noqa: S104 - see settings_env
        {"name": env_name("voice_threads"), "value": str(spec.media.threads)},
        {"name": env_name("media_control_port"), "value": str(CONTROL_PORT)},
        {
            "name": env_name("voice_public_host"),
            **(
                {"value": spec.media.public_address}
                if spec.media.public_address
                else {"valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
            ),
        },
    ]
    voice_ports = [
        {"name": f"voice-{proto.lower()}", "containerPort": port, "protocol": proto}
        for proto in ("UDP", "TCP")
    ]
    if not spec.media.host_network:
        for entry in voice_ports:
            entry["hostPort"] = port
    container["ports"] = [
        *voice_ports,
        {"name": "control", "containerPort": CONTROL_PORT, "protocol": "TCP"},
    ]
    container |= _http_probes("/healthz", port, "HTTPS")
    container["resources"] = spec.media.resources
    extra: dict[str, Any] = {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30}
    if spec.media.tls_secret:
        container["env"] += [
            {"name": env_name("voice_tls_cert"), "value": f"{VOICE_TLS_DIR}/tls.crt"},
            {"name": env_name("voice_tls_key"), "value": f"{VOICE_TLS_DIR}/tls.key"},
        ]
        container["volumeMounts"].append(
            {"name": "voice-tls", "mountPath": VOICE_TLS_DIR, "readOnly": True}
        )
        extra["volumes"] = [{"name": "voice-tls", "secret": {"secretName": spec.media.tls_secret}}]
    if spec.media.host_network:
        extra |= {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}
    meta = _meta(owner, f"{name}-media-{template}-{slot}", "media", spec.release)
    meta["annotations"] = {HASH_ANNOTATION: template, PORT_ANNOTATION: str(port)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": _pod_spec(spec, [container], **extra),
    }


def media_network_policy(owner: Manifest) -> Manifest:
    """Voice is public; the control port only answers the community's gateways and the
    operator (which drains nodes)."""
    name = owner["metadata"]["name"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(owner, child_name(owner, "media"), "media"),
        "spec": {
            "podSelector": {"matchLabels": selector(name, "media")},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"protocol": "UDP"}, {"protocol": "TCP", "port": "voice-tcp"}]},
                {
                    "ports": [{"protocol": "TCP", "port": CONTROL_PORT}],
                    "from": [
                        {"podSelector": {"matchLabels": selector(name, "gateway")}},
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "spectrus-operator"}
                            },
                        },
                    ],
                },
            ],
        },
    }
