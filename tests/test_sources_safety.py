"""The SSRF guard on URLs that come from third parties (checked without connecting)."""

from __future__ import annotations

import ipaddress

import pytest

from bot.errors import SourceFetchError
from bot.sources.safety import Origin, ensure_fetchable, non_public_reason, origin_of


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.5", "a private address"),
        ("192.168.1.20", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("::ffff:192.168.0.1", "a private address"),
        ("224.0.0.251", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address to classify
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved, non-public address"),
    ],
)
def test_internal_addresses_are_named(address: str, reason: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


def test_origin_fills_in_default_ports_and_lowercases_the_host() -> None:
    assert origin_of("https://News.Example/a") == Origin("news.example", 443)
    assert origin_of("http://127.0.0.1:8080/feed") == Origin("127.0.0.1", 8080)
    assert origin_of("http://[::1]:9/x") == Origin("::1", 9)
    assert origin_of("javascript:alert(1)") is None
    assert origin_of("http://host:notaport/") is None


async def test_internal_literal_addresses_are_refused_without_connecting() -> None:
    for url in ("http://10.0.0.8/admin", "http://[::1]:8080/", "http://169.254.169.254/latest"):
        with pytest.raises(SourceFetchError, match="refused to fetch"):
            await ensure_fetchable(url, None)


async def test_the_trusted_sources_own_host_and_port_are_allowed() -> None:
    await ensure_fetchable("http://127.0.0.1:8080/story", Origin("127.0.0.1", 8080))
    with pytest.raises(SourceFetchError, match=r"127\.0\.0\.1 is a loopback address"):
        await ensure_fetchable("http://127.0.0.1:8081/story", Origin("127.0.0.1", 8080))


async def test_names_are_resolved_and_every_address_checked() -> None:
    with pytest.raises(SourceFetchError, match=r"localhost resolves to .*loopback"):
        await ensure_fetchable("http://localhost:8080/story", Origin("127.0.0.1", 8080))


async def test_non_http_urls_are_refused() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http:///no-host"):
        with pytest.raises(SourceFetchError, match="only http\\(s\\) URLs with a host"):
            await ensure_fetchable(url, None)
