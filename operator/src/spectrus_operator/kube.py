"""A small asynchronous Kubernetes API client for the operator's children.

kopf watches ``Community`` objects with its own client; children are written here with
server-side apply (``fieldManager=spectrus-operator``, forced), which both creates them and
puts back whatever someone changed by hand in the fields the operator sets. Credentials
come from kopf's own login helpers: the in-cluster service account or the kubeconfig.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import kopf

FIELD_MANAGER = "spectrus-operator"
TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

# kind -> (API path prefix, plural); namespaced, all of them.
RESOURCES: dict[str, tuple[str, str]] = {
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "Service": ("/api/v1", "services"),
    "Pod": ("/api/v1", "pods"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "Job": ("/apis/batch/v1", "jobs"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "Community": ("/apis/spectrus.io/v1alpha1", "communities"),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _path(kind: str, namespace: str, name: str = "") -> str:
    prefix, plural = RESOURCES[kind]
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


@dataclass
class Kube:
    http: httpx.AsyncClient
    token_file: Path | None = None  # re-read per request: kubelet rotates it

    @classmethod
    def connect(cls, settings: kopf.OperatorSettings | None = None) -> Kube:
        settings = settings or kopf.OperatorSettings()
        info = kopf.login_with_service_account(settings=settings) if TOKEN_FILE.exists() else None
        in_cluster = info is not None
        info = info or kopf.login_with_kubeconfig(settings=settings)
        if info is None:
            raise kopf.LoginError("no service account and no kubeconfig to reach Kubernetes")
        context = ssl.create_default_context()
        if info.ca_path:
            context.load_verify_locations(cafile=info.ca_path)
        elif info.ca_data:
            context.load_verify_locations(cadata=base64.b64decode(info.ca_data).decode())
        if info.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if info.certificate_path or info.certificate_data:
            _load_client_certificate(context, info)
        headers = {"Authorization": f"Bearer {info.token}"} if info.token and not in_cluster else {}
        http = httpx.AsyncClient(
            base_url=str(info.server), verify=context, headers=headers, timeout=30.0
        )
        return cls(http, TOKEN_FILE if in_cluster else None)

    async def close(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        headers = dict(kwargs.pop("headers", {}))
        if self.token_file is not None:
            headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ApiError(response.status_code, message)
        return dict(response.json())

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        result = await self._request(
            "PATCH",
            _path(obj["kind"], meta["namespace"], meta["name"]),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert result is not None
        return result

    async def create(self, obj: dict[str, Any]) -> bool:
        """Create unless it exists; True when this call made it."""
        try:
            await self._request(
                "POST",
                _path(obj["kind"], obj["metadata"]["namespace"]),
                params={"fieldManager": FIELD_MANAGER},
                json=obj,
            )
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._request("GET", _path(kind, namespace, name))

    async def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[Any]:
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        found = await self._request(
            "GET", _path(kind, namespace), params={"labelSelector": label_selector}
        )
        return list((found or {}).get("items", []))

    async def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete (children in the background); False when it was already gone."""
        gone = await self._request(
            "DELETE", _path(kind, namespace, name), json={"propagationPolicy": "Background"}
        )
        return gone is not None

    async def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await self._request(
            "PATCH",
            _path(kind, namespace, name),
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._request(
            "PATCH",
            _path("Community", namespace, name) + "/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def event(self, owner: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Record an Event on ``owner`` (``kubectl describe`` shows them)."""
        meta = owner["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await self._request(
            "POST",
            _path("Event", meta["namespace"]),
            json={
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                },
                "type": kind,
                "reason": reason,
                "message": message[:1024],
                "source": {"component": FIELD_MANAGER},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            },
        )


def _load_client_certificate(context: ssl.SSLContext, info: kopf.ConnectionInfo) -> None:
    if info.certificate_path and info.private_key_path:
        context.load_cert_chain(info.certificate_path, info.private_key_path)
        return
    # ssl wants files: write the kubeconfig's inline key pair to a private directory for
    # as long as it takes to load it.
    with tempfile.TemporaryDirectory() as private:
        os.chmod(private, 0o700)
        cert, key = Path(private, "client.crt"), Path(private, "client.key")
        cert.write_bytes(base64.b64decode(info.certificate_data or ""))
        key.write_bytes(base64.b64decode(info.private_key_data or ""))
        context.load_cert_chain(str(cert), str(key))
