"""The link-preview fetcher against an SSRF corpus, with a real DNS server and a real HTTP
server. Only 127.0.0.2 (the test "internet") is allowlisted; every other target in the
corpus is private, loopback, link-local, multicast, metadata or local by some spelling,
directly, through DNS, or through a redirect, and must be refused before any request."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from dnslib import AAAA, QTYPE, RR, A
from dnslib.server import BaseResolver, DNSServer

from spectrus_api.embeds.addresses import is_public
from spectrus_api.embeds.fetcher import DnsResolver, Refused, SafeFetcher
from spectrus_api.embeds.metadata import embed_for

SITE = "127.0.0.2"  # where the `site` fixture serves: the test's public internet

RECORDS = {
    "public.test": [("A", SITE)],
    "evil.test": [("A", "10.0.0.5")],
    "evil6.test": [("AAAA", "::1")],
    "mixed.test": [("A", SITE), ("A", "10.1.1.1")],
    "meta.test": [("A", "169.254.169.254")],
    "loop.test": [("A", "127.0.0.1")],
    "nat64.test": [("AAAA", "64:ff9b::a00:1")],
    "mapped.test": [("AAAA", "::ffff:c0a8:1")],  # dnslib cannot encode the dotted form
    "cgnat.test": [("A", "100.64.1.1")],
    "ula.test": [("AAAA", "fd12:3456::1")],
    "127.0.0.1.nip.io": [("A", "127.0.0.1")],
}


class Zone(BaseResolver):
    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        for kind, value in RECORDS.get(name, []):
            if QTYPE[request.q.qtype] == kind:
                rdata = A(value) if kind == "A" else AAAA(value)
                reply.add_answer(RR(request.q.qname, getattr(QTYPE, kind), rdata=rdata, ttl=60))
        return reply


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = DNSServer(Zone(), port=port, address="127.0.0.1")
    server.start_thread()
    yield port
    server.stop()


@pytest.fixture
def fetcher(dns_port: int) -> SafeFetcher:
    return SafeFetcher(
        DnsResolver(["127.0.0.1"], port=dns_port),
        allow=[ipaddress.ip_network(f"{SITE}/32")],
        timeout=3,
    )


DIRECT = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://foo.localhost/",
    "http://intranet/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://100.100.100.200/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:c0a8:101::1]/",
    "file:///etc/passwd",
    "gopher://public.test/",
    "ftp://public.test/",
    "http://user:secret@public.test/",
    "http://public.test:99999/",
]
VIA_DNS = [
    "http://evil.test/",
    "http://evil6.test/",
    "http://mixed.test/",
    "http://meta.test/",
    "http://loop.test/",
    "http://nat64.test/",
    "http://mapped.test/",
    "http://cgnat.test/",
    "http://ula.test/",
    "http://127.0.0.1.nip.io/",
    "http://nxdomain.test/",
]


@pytest.mark.parametrize("url", DIRECT + VIA_DNS)
async def test_the_corpus_is_refused(fetcher: SafeFetcher, url: str) -> None:
    with pytest.raises(Refused):
        await fetcher.fetch(url)


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/page",
        "http://evil.test/",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",
        "http://meta.test/latest/meta-data/",
        "file:///etc/passwd",
        "http://localhost:{port}/page",
    ],
)
async def test_redirects_to_forbidden_places_are_refused(
    fetcher: SafeFetcher, site, target: str
) -> None:
    url = f"http://{SITE}:{site.port}/redirect?to=" + target.format(port=site.port)
    with pytest.raises(Refused):
        await fetcher.fetch(url)


async def test_too_many_redirects_and_slow_servers_are_refused(fetcher: SafeFetcher, site) -> None:
    base = f"http://{SITE}:{site.port}"
    loop = f"{base}/redirect?to={base}/redirect%3Fto%3D{base}/redirect%253Fto%253D{base}/redirect%25253Fto%25253D{base}/page"
    with pytest.raises(Refused, match="redirects"):
        await fetcher.fetch(loop)
    with pytest.raises(Refused, match="no answer"):
        await fetcher.fetch(f"{base}/slow")


async def test_a_public_page_is_previewed_without_cookies_or_credentials(
    fetcher: SafeFetcher, site
) -> None:
    via_dns = await fetcher.fetch(f"http://public.test:{site.port}/page")
    assert via_dns.status == 200
    response = await fetcher.fetch(
        f"http://{SITE}:{site.port}/redirect?to=/page"
    )  # a relative redirect
    headers = {k.lower(): v for k, v in site.headers.items()}
    assert "cookie" not in headers and "authorization" not in headers
    assert headers["accept-encoding"] == "identity"
    embed = embed_for(response.url, response.content_type, response.body)
    assert embed == {
        "type": "link",
        "url": f"http://{SITE}:{site.port}/page",
        "title": "The Real Title",
        "description": "What the page is about.",
        "provider": {"name": "Example Site"},
        "thumbnail": {"url": f"http://{SITE}:{site.port}/preview.png"},
        "color": 0x336699,
    }


async def test_bodies_are_cut_at_the_limit(fetcher: SafeFetcher, site) -> None:
    response = await fetcher.fetch(f"http://{SITE}:{site.port}/huge")
    assert response.truncated and len(response.body) == 1 << 20


def test_address_rules() -> None:
    assert is_public(ipaddress.ip_address("8.8.8.8")) and is_public(
        ipaddress.ip_address("2001:4860:4860::8888")
    )
    assert is_public(ipaddress.ip_address("::ffff:8.8.8.8"))  # judged by the address it embeds
    assert not is_public(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
    assert not is_public(
        ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2")
    )  # Teredo to 192.0.2.45
