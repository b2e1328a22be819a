"""Reading a page's preview (OpenGraph, Twitter card, <title>) into a Discord embed."""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from spectrus_domain import limits


class _Meta(HTMLParser):
    """Collects <meta> properties and the <title> of the document's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").lower()
            if key and "content" in a:
                self.meta.setdefault(key, a["content"].strip())
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self.done = True  # previews live in the head

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 1000:
            self.title += data


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_for(url: str, content_type: str, body: bytes) -> dict[str, Any] | None:
    """The preview embed for a fetched page or image, or None if there is nothing to show."""
    if content_type.startswith("image/"):
        return {"type": "image", "url": url, "thumbnail": {"url": url}}
    if content_type not in ("text/html", "application/xhtml+xml"):
        return None
    parser = _Meta()
    try:
        parser.feed(body.decode("utf-8", "replace"))
    except Exception:
        return None
    m = parser.meta
    title = m.get("og:title") or m.get("twitter:title") or parser.title
    description = m.get("og:description") or m.get("twitter:description") or m.get("description")
    if not title and not description:
        return None
    embed: dict[str, Any] = {
        "type": "article" if m.get("og:type") == "article" else "link",
        "url": url,
    }
    if title:
        embed["title"] = _cut(title, limits.EMBED_TITLE_MAX)
    if description:
        embed["description"] = _cut(description, 350)
    site = m.get("og:site_name")
    if site:
        embed["provider"] = {"name": _cut(site, limits.EMBED_AUTHOR_MAX)}
    image = m.get("og:image") or m.get("og:image:url") or m.get("twitter:image")
    if image and image.startswith(("http://", "https://", "/")):
        embed["thumbnail"] = {"url": urljoin(url, image)[: limits.URL_MAX]}
    color = m.get("theme-color", "")
    if len(color) == 7 and color.startswith("#"):
        with contextlib.suppress(ValueError):
            embed["color"] = int(color[1:], 16)
    return embed
