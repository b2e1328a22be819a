"""Message bodies with files, as Discord takes them: ``multipart/form-data`` with a
``payload_json`` part and ``files[n]`` parts (JSON alone works too).

What a file is gets decided here, from its bytes, never from what the client says: the
type is sniffed, images are measured and, when large, get a reduced preview. Files go to
the store before the message commits (see ``staged``): registered as pending first, so a
request that dies halfway leaves nothing the sweeper will not remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import filetype
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from spectrus_domain import attachments, limits
from spectrus_domain.actions.messages import NewAttachment
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.storage import files
from spectrus_domain.storage.files import FileStore

M = TypeVar("M", bound=BaseModel)

SNIFF_BYTES = 8192
PREVIEW_SIDE = 1024  # images larger than this on a side get a reduced copy for proxy_url
MAX_PIXELS = 64_000_000  # beyond this an image is stored but not decoded (decompression bombs)
_FILE_FIELD = re.compile(r"^files\[(\d{1,2})\]$|^file(\d{0,2})$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Types a browser may show inline from our origin; everything else downloads.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "video/", "audio/")


@dataclass
class Upload:
    index: int
    file: UploadFile


def form_limit(upload_limit: int) -> int:
    """The largest request body a message may have: every file at the limit, plus JSON."""
    return limits.ATTACHMENTS_PER_MESSAGE * upload_limit + limits.JSON_BODY_MAX_BYTES


def _validated(model: type[M], raw: str | bytes) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise DomainError(Error.INVALID_JSON) from None
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None


async def read_message_body(request: Request, model: type[M]) -> tuple[M, list[Upload]]:
    """The JSON payload and the uploaded files of a message request."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return _validated(model, await request.body() or b"{}"), []
    try:
        form = await request.form(
            max_files=limits.ATTACHMENTS_PER_MESSAGE,
            max_fields=limits.ATTACHMENTS_PER_MESSAGE + 5,
            max_part_size=limits.JSON_BODY_MAX_BYTES,
        )
    except HTTPException as exc:  # starlette's verdict on the multipart framing
        raise invalid_form("files", "BASE_TYPE_INVALID", str(exc.detail)) from None
    payload = form.get("payload_json")
    if isinstance(payload, UploadFile):  # some clients send it as a file part
        payload = (await payload.read(limits.JSON_BODY_MAX_BYTES + 1)).decode("utf-8", "replace")
    uploads: list[Upload] = []
    for name, value in form.multi_items():
        match = _FILE_FIELD.match(name)
        if match is None or not isinstance(value, UploadFile):
            continue
        index = int(match.group(1) or match.group(2) or 0)
        uploads.append(Upload(index, value))
    if len({u.index for u in uploads}) != len(uploads):
        raise invalid_form("files", "BASE_TYPE_INVALID", "Each file needs its own index.")
    return _validated(model, payload or "{}"), sorted(uploads, key=lambda u: u.index)


def clean_filename(raw: str) -> str:
    """A name safe in a URL path and a header: Discord-like (spaces become ``_``)."""
    name = unicodedata.normalize("NFKD", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = name.encode("ascii", "ignore").decode()
    name = _UNSAFE_NAME.sub("_", name).strip("._") or "unknown"
    if len(name) <= limits.FILENAME_MAX:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and len(ext) <= 16 else ""  # keep a real extension
    return (stem if suffix else name)[: limits.FILENAME_MAX - len(suffix)] + suffix


def sniff(head: bytes, filename: str) -> str:
    """The content type of a file from its first bytes (the name only refines text)."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            is_text = True
        except UnicodeDecodeError as exc:
            is_text = exc.start >= len(head) - 3  # cut inside the last character
        if is_text:
            guessed = mimetypes.guess_type(filename)[0] or "text/plain"
            kind_of = guessed if guessed.startswith("text/") else "text/plain"
            return f"{kind_of}; charset=utf-8"
    return "application/octet-stream"


@dataclass(frozen=True)
class Measured:
    width: int | None = None
    height: int | None = None
    preview: bytes | None = None


def measure_image(data: bytes) -> Measured:
    """Dimensions, and a WebP preview when the image is large (run in a thread)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) <= PREVIEW_SIDE:
                return Measured(width, height)
            image.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))  # JPEG decodes at 1/2^n
            frame = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
            frame.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            out = io.BytesIO()
            frame.save(out, "WEBP", quality=80)
            return Measured(width, height, out.getvalue())
    except Exception:  # not decodable after all: a file without dimensions
        return Measured()


Blob = tuple[str, bytes | IO[bytes]]  # a file for the store: its key, its bytes


@contextlib.asynccontextmanager
async def staged(ctx: Context, store: FileStore, blobs: Sequence[Blob]) -> AsyncIterator[None]:
    """Write files to the store as pending uploads for the action run inside, which
    claims them when it commits. If it fails, they are given up at once; if this process
    dies, the sweeper takes them after the grace period."""
    keys = [key for key, _ in blobs]
    if not keys:
        yield
        return
    await files.expect_uploads(ctx.db, keys, ctx.now())
    try:
        for key, data in blobs:
            await store.put(key, data)
        yield
    except BaseException:
        await files.abandon(ctx.db, keys)
        raise


async def describe_uploads(
    ctx: Context, uploads: Sequence[Upload], described: Sequence[dict[str, Any]]
) -> tuple[list[NewAttachment], list[Blob]]:
    """What each uploaded file is, for the message, and what to store for it (the file
    and any preview). ``described`` is ``payload_json.attachments``: the filename and
    description each ``files[n]`` should carry, by ``id`` = n."""
    limit = ctx.settings.upload_limit
    by_index = {int(d["id"]): d for d in described if str(d.get("id", "")).isdigit()}
    found: list[NewAttachment] = []
    blobs: list[Blob] = []
    for upload in uploads:
        size = upload.file.size or 0
        if size > limit:
            raise DomainError(
                Error.FILE_TOO_LARGE,
                message=f"File uploaded exceeds the maximum size ({limit} bytes)",
            )
        meta = by_index.get(upload.index, {})
        filename = clean_filename(meta.get("filename") or upload.file.filename or "")
        head = await upload.file.read(SNIFF_BYTES)
        content_type = sniff(head, filename)
        measured = Measured()
        if content_type.startswith("image/"):
            await upload.file.seek(0)
            data = await upload.file.read()
            measured = await asyncio.to_thread(measure_image, data)
        await upload.file.seek(0)
        attachment = NewAttachment(
            id=ctx.ids.next(),
            filename=filename,
            content_type=content_type,
            size=size,
            description=meta.get("description"),
            width=measured.width,
            height=measured.height,
            has_preview=measured.preview is not None,
        )
        found.append(attachment)
        blobs.append((attachments.file_key(attachment.id), upload.file.file))
        if measured.preview is not None:
            blobs.append((attachments.preview_key(attachment.id), measured.preview))
    return found, blobs
