"""Images sent inline as data URIs (``data:image/png;base64,...``), the way Discord takes
emoji: decoded with a size bound, then opened with Pillow to learn what they really are."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from PIL import Image

from spectrus_domain.errors import DomainError, invalid_form

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_SIDE = 4096


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    animated: bool
    width: int
    height: int


def _refuse(field: str, message: str) -> DomainError:
    return invalid_form(field, "IMAGE_INVALID", message)


def image_from_data_uri(field: str, value: str, max_bytes: int) -> CheckedImage:
    header, comma, payload = value.partition(",")
    if not comma or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise _refuse(field, "Invalid image data: expected data:image/...;base64,...")
    if len(payload) > (max_bytes + 2) // 3 * 4 + 4:
        raise _refuse(field, f"Image must be at most {max_bytes // 1024} KiB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(field, "Invalid image data: not base64") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            width, height = image.size
            animated = bool(getattr(image, "is_animated", False))
            image.verify()  # reads the whole file: truncated or corrupt data fails here
    except Exception:
        raise _refuse(field, "Invalid image data") from None
    if kind not in _FORMATS:
        raise _refuse(field, "Images must be PNG, JPEG, GIF or WebP")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise _refuse(field, f"Images may be at most {MAX_SIDE} pixels on a side")
    return CheckedImage(data, _FORMATS[kind], animated, width, height)
