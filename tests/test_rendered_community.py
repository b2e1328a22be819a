"""The configuration the operator renders for a ``Community`` runs: the migration Job, two
api replicas, a gateway and a media pod, each started here as the process its container
describes (command and environment resolved from the ConfigMap, the Secrets and the
downward API as the kubelet would), over a Redis 7 cluster and PostgreSQL, serving a real
client: register, post, receive the message on the gateway, join voice, log in to the
media node it was placed on.

What a pod network would provide is replaced by loopback: every process binds 127.0.0.1
on its own free port instead of 0.0.0.0:8080, the media node's control port is a free
one, and mounted files (data dir, the media-nodes ConfigMap) live in the test's directory.
Nothing else in the environment is changed.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spectrus_gateway.client import GatewayClient
from spectrus_operator import manifests as m
from spectrus_operator.spec import parse

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pod:
    """One container of a rendered manifest, run as a local process."""

    def __init__(
        self,
        manifest: dict[str, Any],
        *,
        config: dict[str, str],
        secrets: dict[str, dict[str, str]],
        workdir: Path,
        files: dict[str, Path],
    ) -> None:
        pod = (
            manifest["spec"]["template"]["spec"]
            if "template" in manifest["spec"]
            else manifest["spec"]
        )
        container = pod["containers"][0]
        self.name = f"{manifest['metadata']['name']}-{free_port()}"
        self.args = container["args"]
        self.port = free_port()
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"].endswith("-config")
            env.update(config)
        for var in container.get("env", []):
            if "value" in var:
                # $(NAME) expands to variables defined before it, as in Kubernetes.
                env[var["name"]] = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda g: env.get(g[1], g[0]), var["value"]
                )
            elif "secretKeyRef" in var["valueFrom"]:
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = secrets[ref["name"]][ref["key"]]
            else:
                assert var["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
                env[var["name"]] = "127.0.0.1"
        for mount in container.get("volumeMounts", []):
            for key, value in list(env.items()):
                if value.startswith(mount["mountPath"]):
                    env[key] = str(files[mount["name"]]) + value[len(mount["mountPath"]) :]
        self.data_dir = workdir / self.name
        env |= {
            "SPECTRUS_HOST": "127.0.0.1",
            "SPECTRUS_PORT": str(self.port),
            "SPECTRUS_DATA_DIR": str(self.data_dir),
            "SPECTRUS_RATE_LIMIT_SCALE": "0",
            "PATH": "/usr/bin:/bin",
        }
        if "SPECTRUS_VOICE_HOST" in env:
            env["SPECTRUS_VOICE_HOST"] = "127.0.0.1"
        self.env = env
        self.probe = container.get("readinessProbe", {}).get("httpGet")
        self.log = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run_to_completion(self) -> str:
        done = subprocess.run(
            [str(ROOT / ".venv/bin/spectrus"), *self.args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/spectrus"), *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        probe = self.probe
        assert probe is not None
        port = self.port if probe["port"] == "http" else probe["port"]
        url = f"{probe['scheme'].lower()}://127.0.0.1:{port}{probe['path']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=1, verify=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # the process is starting; its port is all there is to watch
        raise RuntimeError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    started: list[Pod] = []
    yield started
    for pod in started:
        pod.stop()


async def test_a_rendered_community_serves_clients(
    empty_dsn: str, redis_cluster: Any, tmp_path: Path, pods: list[Pod], voice_login: Any
) -> None:
    voice_port = free_port()
    owner = {
        "apiVersion": "spectrus.io/v1alpha1",
        "kind": "Community",
        "metadata": {"name": "demo", "namespace": "team", "uid": "u-1"},
        "spec": {
            "hostname": "chat.example.org",
            "postgres": {"secretRef": {"name": "demo-db"}},
            "redis": {
                "cluster": {"nodes": [f"127.0.0.1:{redis_cluster[0].port}"]},
                "passwordSecretRef": {"name": "redis"},
            },
            "api": {"replicas": 2},
            "media": {"udp": {"portRange": {"start": voice_port, "end": voice_port + 1}}},
            "limits": {"members": 5},
        },
    }
    # Two api replicas would need storage.s3 in a cluster (the CRD says so); attachments
    # are not exercised here, so the spec leaves it out and files stay local.
    spec = parse(owner["spec"])
    config = m.config_map(owner, spec)["data"]
    redis_password = "r@dis/pass:word"  # URL-hostile on purpose: it never goes in a URL
    for node in redis_cluster:
        node.cli("CONFIG", "SET", "requirepass", redis_password)
    secrets = {
        "redis": {"password": redis_password},
        "demo-db": {"url": empty_dsn},
        "demo-keys": {m.SECRET_KEY: m.keys_secret(owner, "k" * 64)["stringData"][m.SECRET_KEY]},
    }
    nodes_dir = tmp_path / "media-nodes"
    nodes_dir.mkdir()
    files = {"data": tmp_path / "data", "tmp": tmp_path / "tmp", "media-nodes": nodes_dir}

    def pod(manifest: dict[str, Any]) -> Pod:
        return Pod(manifest, config=config, secrets=secrets, workdir=tmp_path, files=files)

    out = pod(m.migration_job(owner, spec)).run_to_completion()
    assert "applied migrations: [1," in out

    media = pod(m.media_pod(owner, spec, 0, voice_port))
    control_port = free_port()
    media.env["SPECTRUS_MEDIA_CONTROL_PORT"] = str(control_port)
    pods.append(media)
    media.start()
    nodes = m.media_nodes_config_map(owner, [(f"127.0.0.1:{control_port}", False)])
    (nodes_dir / "nodes").write_text(nodes["data"]["nodes"])

    apis = [pod(m.deployment(owner, spec, "api", spec.release)) for _ in range(2)]
    gateway = pod(m.deployment(owner, spec, "gateway", spec.release))
    for process in [*apis, gateway]:
        pods.append(process)
        process.start()

    async with httpx.AsyncClient(timeout=30) as http:
        tokens = []
        for i, api in enumerate(apis):
            register = {"username": f"member{i}", "password": "correct horse battery"}
            reply = await http.post(f"{api.base}/api/v10/auth/register", json=register)
            assert reply.status_code in (200, 201), reply.text
            tokens.append(reply.json()["token"])
        auth = {"Authorization": tokens[0]}
        guild = (
            await http.post(f"{apis[0].base}/api/v10/guilds", headers=auth, json={"name": "Den"})
        ).json()
        text = next(
            c
            for c in (
                await http.get(
                    f"{apis[1].base}/api/v10/guilds/{guild['id']}/channels", headers=auth
                )
            ).json()
            if c["type"] == 0
        )
        voice_channel = (
            await http.post(
                f"{apis[1].base}/api/v10/guilds/{guild['id']}/channels",
                headers=auth,
                json={"name": "Talk", "type": 2},
            )
        ).json()
        gateway_url = (await http.get(f"{apis[0].base}/api/v10/gateway")).json()["url"]
        assert gateway_url == "ws://chat.example.org/gateway"  # the public URL, from the spec

        client = GatewayClient(f"ws://127.0.0.1:{gateway.port}/gateway", tokens[0])
        await client.identify()
        # Both api replicas post: their snowflake node ids were leased, so ids never clash.
        ids = set()
        for api in apis:
            for n in range(3):
                sent = await http.post(
                    f"{api.base}/api/v10/channels/{text['id']}/messages",
                    headers=auth,
                    json={"content": f"hello {n}"},
                )
                assert sent.status_code == 200, sent.text
                ids.add(sent.json()["id"])
                got = await client.next_dispatch("MESSAGE_CREATE")
                assert got.data["id"] == sent.json()["id"]
        assert len(ids) == 6
        assert len({(int(i) >> 12) & 0x3FF for i in ids}) == 2  # two node ids, one per replica

        server = await client.join_voice(guild["id"], voice_channel["id"])
        assert server["endpoint"] == f"127.0.0.1:{voice_port}"  # status.hostIP, the pod's port
        async with voice_login(client, server, media.data_dir / "voice" / "ca.crt"):
            pass  # HELLO and READY came
        await client.close()
