"""Which links in message content get a preview, as Discord decides it: http(s) URLs,
not wrapped in ``<...>`` (the author's way of saying "no preview"), not inside code, each
once, at most ``MAX_PREVIEWS``. Pure: the fetching is the API's business."""

from __future__ import annotations

import re

MAX_PREVIEWS = 5
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_URL = re.compile(r"(<)?(https?://[^\s<>]+[^\s<>.,:;\"')\]!?])(>)?", re.IGNORECASE)


def preview_urls(content: str) -> list[str]:
    text = _CODE.sub(" ", content)
    found: dict[str, None] = {}
    for match in _URL.finditer(text):
        if match.group(1) and match.group(3):
            continue
        found.setdefault(match.group(2), None)
    return list(found)[:MAX_PREVIEWS]
