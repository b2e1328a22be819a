"""Attachments as clients see them: Discord's attachment object, with download URLs bound
to their channel and attachment and valid for a day, signed with the instance's secret.

A URL reads ``/attachments/<channel>/<attachment>/<filename>?ex=<expiry>&is=<issued>&hm=<mac>``
(Discord's form; ``proxy_url`` is the same under ``/media``, serving a reduced image when
there is one). Without the secret nobody can make one, and one made for a file in one
channel opens nothing in another. Issue times are rounded to the hour so a message's URLs
stay the same for a while and clients can cache them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from spectrus_domain.storage.db import Database
from spectrus_domain.storage.secrets import instance_secret

SECRET_NAME = "attachment_urls"  # noqa: S105 - the name of a secret, not one
URL_TTL = 86_400
_ROUND = 3600


def file_key(attachment_id: int) -> str:
    return f"a/{attachment_id}"


def preview_key(attachment_id: int) -> str:
    return f"a/{attachment_id}.preview"


def path_of(channel_id: int, attachment_id: int, filename: str) -> str:
    return f"attachments/{channel_id}/{attachment_id}/{quote(filename)}"


@dataclass(frozen=True)
class UrlSigner:
    secret: bytes = field(repr=False)
    base_url: str

    def _mac(self, path: str, expires: int, issued: int) -> str:
        message = f"{path}\n{expires:x}\n{issued:x}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def query(self, path: str, now: datetime) -> str:
        issued = int(now.timestamp()) // _ROUND * _ROUND
        expires = issued + URL_TTL + _ROUND  # at least URL_TTL from now
        return f"ex={expires:x}&is={issued:x}&hm={self._mac(path, expires, issued)}&"

    def verify(self, path: str, ex: str, is_: str, hm: str, now: datetime) -> bool:
        try:
            expires, issued = int(ex, 16), int(is_, 16)
        except ValueError:
            return False
        if not issued <= now.timestamp() + _ROUND or now.timestamp() >= expires:
            return False
        if expires - issued > URL_TTL + _ROUND:
            return False
        return hmac.compare_digest(self._mac(path, expires, issued), hm)

    def at(self, now: datetime) -> SignedUrls:
        return SignedUrls(self, now)


@dataclass(frozen=True)
class SignedUrls:
    """Renders attachment rows with URLs signed as of ``now``."""

    signer: UrlSigner
    now: datetime

    def attachment(self, row: Any) -> dict[str, Any]:
        path = path_of(row["channel_id"], row["id"], row["filename"])
        query = self.signer.query(path, self.now)
        base = self.signer.base_url
        data: dict[str, Any] = {
            "id": str(row["id"]),
            "filename": row["filename"],
            "size": row["size"],
            "url": f"{base}/{path}?{query}",
            "proxy_url": f"{base}/media/{path}?{query}",
            "content_type": row["content_type"],
        }
        if row["description"] is not None:
            data["description"] = row["description"]
        if row["width"] is not None:
            data["width"], data["height"] = row["width"], row["height"]
        return data


async def load_signer(db: Database, base_url: str, *, secret_key: str = "") -> UrlSigner:
    """The signer for this instance; ``secret_key`` (the setting) derives its secret."""
    secret = await instance_secret(db, SECRET_NAME, key=secret_key)
    return UrlSigner(secret, base_url.rstrip("/"))
