"""A ``Community``'s spec as typed values.

The API server has already validated the object and filled in the CRD's defaults; the
same defaults are repeated here so the manifest builders also work on a bare spec (unit
tests, and objects stored before a default was added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GROUP = "spectrus.io"
VERSION = "v1alpha1"
PLURAL = "communities"
KIND = "Community"


@dataclass(frozen=True)
class Autoscaling:
    enabled: bool = False
    min_replicas: int = 2
    max_replicas: int = 10
    target_cpu: int = 70


@dataclass(frozen=True)
class Workload:
    replicas: int = 2
    resources: dict[str, Any] = field(default_factory=dict)
    autoscaling: Autoscaling = Autoscaling()


@dataclass(frozen=True)
class Media:
    replicas: int = 1
    resources: dict[str, Any] = field(default_factory=dict)
    threads: int = 0
    host_network: bool = False
    port_start: int = 30000
    port_end: int = 30099
    public_address: str = ""
    tls_secret: str = ""
    drain_timeout: int = 3600


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class Redis:
    nodes: tuple[str, ...]
    cluster: bool
    password: SecretKeyRef | None = None
    tls: bool = False


@dataclass(frozen=True)
class S3:
    bucket: str
    endpoint: str
    region: str
    credentials: str  # Secret with access-key-id and secret-access-key


@dataclass(frozen=True)
class CommunitySpec:
    hostname: str
    postgres: SecretKeyRef
    redis: Redis
    version: str = "0.1.0"
    registry: str = "ghcr.io/spectrus"
    tag: str = ""
    pull_policy: str = "IfNotPresent"
    pull_secrets: tuple[str, ...] = ()
    tls_secret: str = ""
    ingress_class: str = ""
    ingress_annotations: dict[str, str] = field(default_factory=dict)
    api: Workload = Workload()
    gateway: Workload = Workload()
    media: Media = Media()
    s3: S3 | None = None
    max_members: int = 0
    upload_bytes: int = 8 << 20
    retention_days: int = 0
    registration: bool = True
    link_previews: bool = True
    voice: bool = True
    admins: tuple[str, ...] = ()
    otlp_endpoint: str = ""
    trace_sample_ratio: float = 1.0

    @property
    def release(self) -> str:
        """The images' tag: what a database migration is run for."""
        return self.tag or self.version

    def image(self, component: str, release: str = "") -> str:
        return f"{self.registry}/spectrus-{component}:{release or self.release}"

    @property
    def public_url(self) -> str:
        return f"{'https' if self.tls_secret else 'http'}://{self.hostname}"

    @property
    def gateway_url(self) -> str:
        return f"{'wss' if self.tls_secret else 'ws'}://{self.hostname}/gateway"


def _workload(raw: dict[str, Any]) -> Workload:
    scaling = raw.get("autoscaling") or {}
    return Workload(
        replicas=int(raw.get("replicas", 2)),
        resources=dict(raw.get("resources") or {}),
        autoscaling=Autoscaling(
            enabled=bool(scaling.get("enabled", False)),
            min_replicas=int(scaling.get("minReplicas", 2)),
            max_replicas=int(scaling.get("maxReplicas", 10)),
            target_cpu=int(scaling.get("targetCPUUtilizationPercentage", 70)),
        ),
    )


def _secret_ref(raw: dict[str, Any], default_key: str) -> SecretKeyRef:
    return SecretKeyRef(name=str(raw["name"]), key=str(raw.get("key") or default_key))


def parse(raw: dict[str, Any]) -> CommunitySpec:
    """The spec of a ``Community`` object (``body["spec"]``)."""
    image = raw.get("image") or {}
    media = raw.get("media") or {}
    udp = media.get("udp") or {}
    ports = udp.get("portRange") or {}
    redis = raw["redis"]
    cluster = "cluster" in redis
    password = redis.get("passwordSecretRef")
    storage = (raw.get("storage") or {}).get("s3")
    limits = raw.get("limits") or {}
    features = raw.get("features") or {}
    tracing = raw.get("tracing") or {}
    ingress = raw.get("ingress") or {}
    return CommunitySpec(
        hostname=str(raw["hostname"]),
        postgres=_secret_ref(raw["postgres"]["secretRef"], "url"),
        redis=Redis(
            nodes=tuple(redis["cluster"]["nodes"] if cluster else redis["shards"]),
            cluster=cluster,
            password=_secret_ref(password, "password") if password else None,
            tls=bool(redis.get("tls", False)),
        ),
        version=str(raw.get("version", "0.1.0")),
        registry=str(image.get("registry", "ghcr.io/spectrus")).rstrip("/"),
        tag=str(image.get("tag", "")),
        pull_policy=str(image.get("pullPolicy", "IfNotPresent")),
        pull_secrets=tuple(image.get("pullSecrets") or ()),
        tls_secret=str((raw.get("tls") or {}).get("secretName", "")),
        ingress_class=str(ingress.get("className", "")),
        ingress_annotations=dict(ingress.get("annotations") or {}),
        api=_workload(raw.get("api") or {}),
        gateway=_workload(raw.get("gateway") or {}),
        media=Media(
            replicas=int(media.get("replicas", 1)),
            resources=dict(media.get("resources") or {}),
            threads=int(media.get("threads", 0)),
            host_network=udp.get("mode", "HostPort") == "HostNetwork",
            port_start=int(ports.get("start", 30000)),
            port_end=int(ports.get("end", 30099)),
            public_address=str(media.get("publicAddress", "")),
            tls_secret=str(media.get("tlsSecretName", "")),
            drain_timeout=int(media.get("drainTimeoutSeconds", 3600)),
        ),
        s3=S3(
            bucket=str(storage["bucket"]),
            endpoint=str(storage.get("endpoint", "")),
            region=str(storage.get("region", "us-east-1")),
            credentials=str(storage["credentialsSecret"]),
        )
        if storage
        else None,
        max_members=int(limits.get("members", 0)),
        upload_bytes=int(limits.get("uploadBytes", 8 << 20)),
        retention_days=int(limits.get("retentionDays", 0)),
        registration=bool(features.get("registration", True)),
        link_previews=bool(features.get("linkPreviews", True)),
        voice=bool(features.get("voice", True)),
        admins=tuple(str(a) for a in raw.get("admins") or ()),
        otlp_endpoint=str(tracing.get("otlpEndpoint", "")),
        trace_sample_ratio=float(tracing.get("sampleRatio", 1.0)),
    )
