"""Attachment downloads, Discord's CDN paths on the instance itself:
``/attachments/<channel>/<attachment>/<filename>`` (the file) and the same under ``/media``
(a reduced image when there is one). The signed query is the authorization: it names the
channel, attachment and file, and expires (see ``spectrus_domain.attachments``).

Files come from other users, so nothing is served in a way a browser could run on our
origin: the sniffed type, ``nosniff``, a sandboxing CSP, and a download (not a page) for
anything but plain media.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from spectrus_api.deps import Ctx, Store
from spectrus_api.uploads import INLINE_TYPES
from spectrus_domain import attachments
from spectrus_domain.ids import MAX_SNOWFLAKE
from spectrus_domain.storage.files import FileMissingError

router = APIRouter(tags=["files"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
Id = Annotated[int, Path(ge=0, le=MAX_SNOWFLAKE)]
Hex = Annotated[str, Query(max_length=128, pattern=r"^[0-9a-f]*$")]


def _gone() -> Response:
    return JSONResponse({"message": "This content is no longer available.", "code": 0}, 404)


def _range(header: str | None, size: int) -> tuple[int, int] | Response | None:
    """The byte range asked for, None for the whole file, or a 416 response."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: the whole file is a valid answer
    first, last = match.groups()
    if first:
        start, end = int(first), (int(last) + 1 if last else size)
    elif last:
        start, end = max(size - int(last), 0), size
    else:
        return None
    end = min(end, size)
    if start >= end:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def _serve(
    request: Request, ctx: Ctx, store: Store, address: Address, *, media: bool
) -> Response:
    filename = address.filename
    path = attachments.path_of(address.channel_id, address.attachment_id, filename)
    if not ctx.signer.verify(path, *address.signature, ctx.now()):
        return _gone()
    row = await ctx.db.fetchrow(
        "SELECT * FROM attachments WHERE id = $1 AND channel_id = $2 AND filename = $3",
        address.attachment_id,
        address.channel_id,
        filename,
    )
    if row is None:
        return _gone()
    preview = media and row["preview_key"] is not None
    key = row["preview_key"] if preview else row["file_key"]
    content_type = "image/webp" if preview else row["content_type"]
    inline = content_type.startswith(INLINE_TYPES) or content_type.startswith("text/plain")
    headers = {
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
        "Accept-Ranges": "bytes",
    }
    size = None if preview else int(row["size"])
    wanted = _range(request.headers.get("range"), size) if size is not None else None
    if isinstance(wanted, Response):
        return wanted
    try:
        stored = await store.open(key, *(wanted or (0, None)))
    except FileMissingError:
        return _gone()
    headers["Content-Length"] = str(stored.size)
    status = 200
    if wanted is not None and size is not None:
        status = 206
        headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1] - 1}/{size}"
    if request.method == "HEAD":
        await stored.chunks.aclose()
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(
        stored.chunks, status_code=status, headers=headers, media_type=content_type
    )


_RANGES: dict[int | str, dict[str, Any]] = {
    206: {"description": "The byte range asked for (Range: bytes=a-b)"},
    416: {"description": "The range lies outside the file"},
}


@dataclass(frozen=True)
class Address:
    """The parts of an attachment URL."""

    channel_id: int
    attachment_id: int
    filename: str
    signature: tuple[str, str, str]  # ex, is, hm


async def address(
    channel_id: Id,
    attachment_id: Id,
    filename: Annotated[str, Path(max_length=256)],
    ex: Hex = "",
    is_: Annotated[str, Query(alias="is", max_length=128, pattern=r"^[0-9a-f]*$")] = "",
    hm: Hex = "",
) -> Address:
    """A dependency shared by both paths (a coroutine: no worker thread)."""
    return Address(channel_id, attachment_id, filename, (ex, is_, hm))


Addressed = Annotated[Address, Depends(address)]
_FILE_PATH = "/attachments/{channel_id}/{attachment_id}/{filename}"


@router.api_route(_FILE_PATH, methods=["GET", "HEAD"], responses=_RANGES)
async def attachment(request: Request, ctx: Ctx, store: Store, where: Addressed) -> Response:
    return await _serve(request, ctx, store, where, media=False)


@router.api_route("/media" + _FILE_PATH, methods=["GET", "HEAD"], responses=_RANGES)
async def media(request: Request, ctx: Ctx, store: Store, where: Addressed) -> Response:
    return await _serve(request, ctx, store, where, media=True)


@router.api_route("/emojis/{emoji_file}", methods=["GET", "HEAD"])
async def emoji_image(
    request: Request,
    ctx: Ctx,
    store: Store,
    emoji_file: Annotated[str, Path(pattern=r"^\d{1,20}\.(png|jpg|jpeg|gif|webp)$")],
) -> Response:
    """Emoji are public, as on Discord's CDN: anyone with the id may see the image (the
    stored format, whatever extension was asked for)."""
    emoji_id = int(emoji_file.split(".", 1)[0])
    row = await ctx.db.fetchrow("SELECT file_key, content_type FROM emojis WHERE id = $1", emoji_id)
    if row is None:
        return _gone()
    try:
        data = await store.read(row["file_key"])
    except FileMissingError:
        return _gone()
    headers = {
        "Cache-Control": "public, max-age=86400",
        "Content-Length": str(len(data)),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    body = b"" if request.method == "HEAD" else data
    return Response(body, media_type=row["content_type"], headers=headers)
