"""Instance settings, one definition for every way to set them.

Each field is settable as the environment variable ``SPECTRUS_<NAME>`` and the command-line
flag ``--<name-with-dashes>``; the same names will be used by the Kubernetes operator.
Flags win over the environment, which wins over defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAY = 86_400


def _about(help_text: str, *choices: str) -> dict[str, Any]:
    return {"help": help_text, "choices": choices}


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata=_about("address the HTTP server binds to"))
    port: int = field(default=8080, metadata=_about("TCP port the HTTP server listens on"))
    data_dir: Path = field(
        default=Path("data"), metadata=_about("where the embedded database and files live")
    )
    web_dir: str = field(
        default="",
        metadata=_about(
            "the built web client the API serves at / (default: web/dist of this checkout)"
        ),
    )
    database_url: str = field(
        default="",
        metadata=_about("PostgreSQL URL; when empty, an embedded server runs under the data dir"),
    )
    public_url: str = field(
        default="",
        metadata=_about("base URL clients reach this instance at (default: from host and port)"),
    )
    gateway_url: str = field(
        default="", metadata=_about("WebSocket URL of the gateway (default: from the public URL)")
    )
    redis_urls: str = field(
        default="",
        metadata=_about(
            "comma-separated Redis URLs for the event bus and gateway sessions "
            "(empty: in-process, one machine)"
        ),
    )
    redis_password: str = field(
        default="",
        repr=False,
        metadata=_about("password for Redis URLs that carry none (any characters allowed)"),
    )
    redis_cluster: bool = field(
        default=False, metadata=_about("the Redis URLs are nodes of one Redis Cluster, not shards")
    )
    node_id: int = field(
        default=0, metadata=_about("0..1023, unique per process: the node bits of snowflake ids")
    )
    node_id_lease: bool = field(
        default=False,
        metadata=_about(
            "spectrus api and gateway lease a free node id from PostgreSQL at start instead of "
            "using node_id (for replicas that share one configuration)"
        ),
    )
    registration: str = field(
        default="open",
        metadata=_about("whether anyone may register an account", "open", "closed"),
    )
    admins: str = field(
        default="",
        metadata=_about(
            "usernames (comma-separated) of people who administer the instance (read "
            "/diag), besides its first account"
        ),
    )
    max_accounts: int = field(
        default=0,
        metadata=_about(
            "most accounts (people and bots) the instance holds; registering and creating "
            "applications are refused at the limit (0: unlimited)"
        ),
    )
    rate_limit_scale: float = field(
        default=1.0,
        metadata=_about(
            "multiplies every rate limit (2 = twice as many requests); 0 turns them off"
        ),
    )
    session_ttl: int = field(
        default=7 * DAY, metadata=_about("seconds a login token stays valid without a refresh")
    )
    refresh_ttl: int = field(
        default=90 * DAY, metadata=_about("seconds a refresh token stays valid")
    )
    outbox_retention: int = field(
        default=7 * DAY,
        metadata=_about(
            "seconds committed events stay in the outbox for gateways to catch up from"
        ),
    )
    message_retention_days: int = field(
        default=0,
        metadata=_about(
            "days messages are kept in guilds that set no retention of their own "
            "(0: forever; else 1..36500)"
        ),
    )
    secret_key: str = field(
        default="",
        repr=False,
        metadata=_about(
            "at least 32 characters: the instance's shared secrets (attachment URL signing) "
            "are derived from it instead of being kept in the database"
        ),
    )
    trust_proxy: bool = field(
        default=False,
        metadata=_about(
            "take the client address from X-Forwarded-For (only behind a trusted proxy)"
        ),
    )
    upload_limit: int = field(
        default=8 << 20, metadata=_about("largest file a message may carry, in bytes")
    )
    s3_bucket: str = field(
        default="",
        metadata=_about("keep files in this S3-compatible bucket (empty: under the data dir)"),
    )
    s3_endpoint: str = field(
        default="", metadata=_about("S3 endpoint URL (empty: AWS); http:// is allowed")
    )
    s3_region: str = field(default="us-east-1", metadata=_about("S3 region"))
    s3_access_key_id: str = field(default="", metadata=_about("S3 access key id"))
    s3_secret_access_key: str = field(
        default="", repr=False, metadata=_about("S3 secret access key")
    )
    link_previews: bool = field(
        default=True,
        metadata=_about("fetch previews (title, image, site) of links posted in messages"),
    )
    embed_allow_networks: str = field(
        default="",
        metadata=_about(
            "comma-separated networks link previews may reach although not public "
            "(e.g. an intranet: 10.20.0.0/16); loopback and metadata stay refused otherwise"
        ),
    )
    voice_port: int = field(
        default=8443,
        metadata=_about(
            "port of the voice WebSocket (TCP, TLS) and of voice packets (UDP); 0 picks free ones"
        ),
    )
    voice_host: str = field(
        default="", metadata=_about("address the voice service binds to (default: host)")
    )
    voice_public_host: str = field(
        default="",
        metadata=_about("address voice clients reach this node at (default: the bind address)"),
    )
    voice_threads: int = field(
        default=0,
        metadata=_about("packet-forwarding threads of a media node (0: one per core, up to 2)"),
    )
    voice_tls_cert: str = field(
        default="",
        metadata=_about(
            "PEM certificate of the voice WebSocket (empty: one signed by a local CA made "
            "under the data dir, voice/ca.crt)"
        ),
    )
    voice_tls_key: str = field(default="", metadata=_about("PEM private key of voice_tls_cert"))
    media_nodes: str = field(
        default="",
        metadata=_about(
            "comma-separated control addresses (host:port) of media nodes the gateway places "
            "voice on (spectrus up: its own)"
        ),
    )
    media_nodes_file: str = field(
        default="",
        metadata=_about(
            "file listing the media nodes instead of media_nodes, re-read when it changes: "
            "one host:port a line, optionally followed by the word draining"
        ),
    )
    media_control_port: int = field(
        default=8444, metadata=_about("TCP port of a media node's gRPC control service")
    )
    log_level: str = field(
        default="info", metadata=_about("log verbosity", "debug", "info", "warning", "error")
    )
    log_format: str = field(
        default="auto",
        metadata=_about(
            "log lines as JSON objects or text (auto: text on a terminal, JSON otherwise)",
            "auto",
            "json",
            "text",
        ),
    )

    @property
    def redis(self) -> list[str]:
        return [u.strip() for u in self.redis_urls.split(",") if u.strip()]

    @property
    def media(self) -> list[str]:
        return [a.strip() for a in self.media_nodes.split(",") if a.strip()]

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def websocket_url(self) -> str:
        if self.gateway_url:
            return self.gateway_url
        base = self.base_url
        return (
            "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]
        ) + "/gateway"

    @property
    def embed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.embed_allow_networks.split(",")
            if part.strip()
        ]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return "SPECTRUS_" + field_name.upper()


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _convert(raw: str, kind: Any, name: str) -> Any:
    try:
        if kind in (bool, "bool"):
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: cannot read {raw!r} as {kind}") from exc
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then ``SPECTRUS_*`` from ``environ``, then non-None ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = env.get(env_name(f.name))
        if raw is not None and raw != "":
            values[f.name] = _convert(raw, f.type, env_name(f.name))
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    for f in dataclasses.fields(s):
        choices = f.metadata.get("choices")
        if choices and getattr(s, f.name) not in choices:
            raise ValueError(f"{env_name(f.name)} must be one of {', '.join(choices)}")
    if not 0 <= s.node_id <= 1023:
        raise ValueError("SPECTRUS_NODE_ID must be in 0..1023")
    if not 0 < s.port < 65536:
        raise ValueError("SPECTRUS_PORT must be in 1..65535")
    if not 0 <= s.voice_port < 65536 or not 0 <= s.media_control_port < 65536:
        raise ValueError("SPECTRUS_VOICE_PORT and SPECTRUS_MEDIA_CONTROL_PORT must be in 0..65535")
    if bool(s.voice_tls_cert) != bool(s.voice_tls_key):
        raise ValueError("SPECTRUS_VOICE_TLS_CERT and SPECTRUS_VOICE_TLS_KEY go together")
    if not 0 <= s.voice_threads <= 64:
        raise ValueError("SPECTRUS_VOICE_THREADS must be in 0..64")
    if s.rate_limit_scale < 0:
        raise ValueError("SPECTRUS_RATE_LIMIT_SCALE must not be negative")
    if s.outbox_retention < 3600:
        raise ValueError("SPECTRUS_OUTBOX_RETENTION must be at least 3600 seconds")
    if not 1024 <= s.upload_limit <= 1 << 30:
        raise ValueError("SPECTRUS_UPLOAD_LIMIT must be between 1024 bytes and 1 GiB")
    try:
        s.embed_networks  # noqa: B018 - parsed for its errors
    except ValueError as exc:
        raise ValueError(f"SPECTRUS_EMBED_ALLOW_NETWORKS: {exc}") from None
    if s.max_accounts < 0:
        raise ValueError("SPECTRUS_MAX_ACCOUNTS must not be negative (0: unlimited)")
    if s.message_retention_days != 0 and not 1 <= s.message_retention_days <= 36500:
        raise ValueError("SPECTRUS_MESSAGE_RETENTION_DAYS must be 0 (forever) or in 1..36500")
    # HMAC-SHA256 keys shorter than its output weaken it; 32 characters is the floor.
    if s.secret_key and len(s.secret_key) < 32:
        raise ValueError("SPECTRUS_SECRET_KEY must be at least 32 characters when set")
    if s.session_ttl < 60 or s.refresh_ttl < s.session_ttl:
        raise ValueError("need SPECTRUS_SESSION_TTL >= 60 and SPECTRUS_REFRESH_TTL >= it")
