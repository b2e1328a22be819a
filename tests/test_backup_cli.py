"""``spectrus backup`` of a running ``spectrus up`` instance, ``spectrus restore`` into a
new data directory, and the restored instance serving the same community and files."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "spectrus"), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_backup_a_running_instance_and_restore_it_elsewhere(spectrus, tmp_path: Path) -> None:
    server = spectrus()
    server.start()
    api = httpx.Client(base_url=f"{server.base}/api/v10", timeout=30)
    password = "correct horse battery"
    token = api.post("/auth/register", json={"username": "keeper", "password": password}).json()[
        "token"
    ]
    auth = {"Authorization": token}
    gid = api.post("/guilds", headers=auth, json={"name": "Kept"}).json()["id"]
    channel = next(
        c["id"] for c in api.get(f"/guilds/{gid}/channels", headers=auth).json() if c["type"] == 0
    )
    document = b"%PDF-1.4 a document worth keeping\n" * 100
    sent = api.post(
        f"/channels/{channel}/messages",
        headers=auth,
        data={"payload_json": json.dumps({"content": "the plan"})},
        files=[("files[0]", ("plan.pdf", document, "application/pdf"))],
    ).json()
    pixel = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    emoji = api.post(
        f"/guilds/{gid}/emojis",
        headers=auth,
        json={"name": "dot", "image": "data:image/png;base64," + base64.b64encode(pixel).decode()},
    ).json()

    archive = tmp_path / "backup.tar"
    made = _cli("backup", str(archive), "--data-dir", str(server.data_dir))  # while it runs
    assert made.returncode == 0, made.stderr
    assert "2 files" in made.stdout
    api.post(f"/channels/{channel}/messages", headers=auth, json={"content": "after the backup"})
    server.stop()

    elsewhere = tmp_path / "restored"
    restored = _cli("restore", str(archive), "--data-dir", str(elsewhere))
    assert restored.returncode == 0, restored.stderr
    again = _cli("restore", str(archive), "--data-dir", str(elsewhere))
    assert again.returncode == 1 and "not empty" in again.stderr

    copy = spectrus(data_dir=elsewhere)
    copy.start()
    api = httpx.Client(base_url=f"{copy.base}/api/v10", timeout=30)
    login = api.post("/auth/login", json={"login": "keeper", "password": password})
    auth = {"Authorization": login.json()["token"]}
    messages = api.get(f"/channels/{channel}/messages", headers=auth).json()
    assert [m["content"] for m in messages] == ["the plan"]  # the later one is not in it
    attachment = messages[0]["attachments"][0]
    assert attachment["id"] == sent["attachments"][0]["id"]
    url = attachment["url"].replace(attachment["url"].split("/attachments/")[0], copy.base)
    assert httpx.get(url).content == document
    image = httpx.get(f"{copy.base}/emojis/{emoji['id']}.png")
    assert image.status_code == 200 and image.content == pixel
