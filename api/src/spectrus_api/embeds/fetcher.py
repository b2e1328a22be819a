"""Fetching a URL on behalf of a message author without being a confused deputy.

Every hop (the URL and each redirect) is checked: http or https only, no credentials in
the URL, the host resolved by our own resolver and *every* address it resolves to
allowed (see ``addresses``), and the connection made to that very address, so a second
DNS answer cannot swap it. The request is written by hand over h11: no proxy from the
environment, no cookies, no authorization, ``identity`` encoding (no decompression
bombs). Time, size and redirects are bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import dns.asyncresolver
import dns.exception
import dns.resolver
import h11

from spectrus_api.embeds import addresses
from spectrus_api.embeds.addresses import IPAddress, Network

USER_AGENT = "Mozilla/5.0 (compatible; Spectrus-LinkPreview/1.0)"
MAX_BYTES = 1 << 20
TIMEOUT = 5.0
MAX_REDIRECTS = 3


class Refused(Exception):  # noqa: N818 - a decision, not a failure
    """The fetch was refused (the reason says why); nothing was sent to the host."""


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    content_type: str
    body: bytes
    truncated: bool


class Resolver(Protocol):
    async def resolve(self, host: str) -> list[IPAddress]: ...


class DnsResolver:
    """A, then AAAA, from the configured nameservers (never /etc/hosts)."""

    def __init__(
        self, nameservers: Sequence[str] | None = None, port: int = 53, timeout: float = 3.0
    ) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        self._resolver.lifetime = timeout

    async def resolve(self, host: str) -> list[IPAddress]:
        found: list[IPAddress] = []
        for kind in ("A", "AAAA"):
            try:
                answer = await self._resolver.resolve(host, kind)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:
                raise Refused(f"cannot resolve {host}: {type(exc).__name__}") from None
            found += [ipaddress.ip_address(r.to_text()) for r in answer]
        if not found:
            raise Refused(f"{host} does not resolve")
        return found


class SafeFetcher:
    def __init__(
        self,
        resolver: Resolver,
        *,
        allow: Sequence[Network] = (),
        max_bytes: int = MAX_BYTES,
        timeout: float = TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.resolver = resolver
        self.allow = list(allow)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.ssl_context = ssl_context or ssl.create_default_context()

    async def fetch(
        self,
        url: str,
        accept: str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        max_bytes: int | None = None,
    ) -> Response:
        """GET ``url``, reading at most ``max_bytes`` of the body (default: the fetcher's)."""
        limit = min(max_bytes or self.max_bytes, self.max_bytes)
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(self.max_redirects + 1):
                    target = await self._check(url)
                    response, location = await self._request(url, target, accept, limit)
                    if location is None:
                        return response
                    url = urljoin(url, location)
                raise Refused(f"more than {self.max_redirects} redirects")
        except TimeoutError:
            raise Refused(f"no answer within {self.timeout} s") from None

    async def _check(self, url: str) -> IPAddress:
        """The address to connect to for ``url``, after every rule; or Refused."""
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises for a port that is not a number in range
        except ValueError as exc:
            raise Refused(f"unreadable URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise Refused(f"scheme {parts.scheme!r} is not fetched")
        if parts.username is not None or parts.password is not None:
            raise Refused("credentials in URLs are never sent")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise Refused("no host")
        try:
            literal = addresses.literal(f"[{host}]" if ":" in host else host)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        if literal is not None:
            candidates = [literal]
        elif host == "localhost" or host.endswith(".localhost") or "." not in host:
            # Single-label names go through search domains: an intranet by another name.
            raise Refused(f"{host} is a local name")
        else:
            candidates = await self.resolver.resolve(host)
        refused = [a for a in candidates if not addresses.allowed(a, self.allow)]
        if refused:
            raise Refused(f"{host} resolves to a non-public address ({refused[0]})")
        return candidates[0]

    async def _request(
        self, url: str, address: IPAddress, accept: str, limit: int
    ) -> tuple[Response, str | None]:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        host = parts.hostname or ""
        reader, writer = await asyncio.open_connection(
            str(address),
            port,
            ssl=self.ssl_context if https else None,
            server_hostname=host if https else None,
        )
        try:
            conn = h11.Connection(h11.CLIENT)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            shown = f"[{host}]" if ":" in host else host
            host_header = shown if parts.port is None else f"{shown}:{parts.port}"
            request = h11.Request(
                method="GET",
                target=target,
                headers=[
                    ("Host", host_header),
                    ("User-Agent", USER_AGENT),
                    ("Accept", accept),
                    ("Accept-Encoding", "identity"),
                    ("Connection", "close"),
                ],
            )
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            status, headers, body, truncated = 0, {}, bytearray(), False
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await reader.read(65536)
                    conn.receive_data(chunk)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
                    if 300 <= status < 400 and "location" in headers:
                        return Response(url, status, "", b"", False), headers["location"]
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > limit:
                        del body[limit:]
                        truncated = True
                        break
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            return Response(url, status, content_type, bytes(body), truncated), None
        except h11.RemoteProtocolError as exc:
            raise Refused(f"bad HTTP from {host}: {exc}") from None
        finally:
            writer.close()
