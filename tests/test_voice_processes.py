"""Voice as Kubernetes runs it: ``spectrus api``, ``spectrus gateway`` and ``spectrus media``
as separate processes over Redis and PostgreSQL. The gateway, told where the media node's
control service is (``--media-nodes``), places a joining member there, and the member's
voice login on the media process succeeds with the token the gateway handed out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spectrus_gateway.client import GatewayClient

pytestmark = pytest.mark.slow


async def test_a_gateway_places_voice_on_a_media_process(instance: Any, voice_login: Any) -> None:
    started = instance()
    api, gateway, media = started.api, started.gateway, started.media

    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=30) as http:
        register = {"username": "speaker", "password": "correct horse battery"}
        token = (await http.post("/auth/register", json=register)).json()["token"]
        auth = {"Authorization": token}
        guild = (await http.post("/guilds", headers=auth, json={"name": "Den"})).json()
        channel = (
            await http.post(
                f"/guilds/{guild['id']}/channels", headers=auth, json={"name": "Talk", "type": 2}
            )
        ).json()

    client = GatewayClient(gateway.ws, token)
    await client.identify()
    server = await client.join_voice(guild["id"], channel["id"])
    assert server["endpoint"] == f"127.0.0.1:{media.voice_port}"
    state = (await client.next_dispatch("VOICE_STATE_UPDATE")).data
    assert state["channel_id"] == channel["id"] and state["session_id"] == client.session_id
    async with voice_login(client, server, media.data_dir / "voice" / "ca.crt"):
        pass  # HELLO and READY came
    await client.close()
