"""Which addresses a webhook may be sent to (checked when it is created and again before each send,
since a name can resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from deepfeat.config import Settings

# Cloud metadata services (AWS/GCP/Azure/OpenStack at 169.254.169.254, AWS IPv6, Alibaba): never.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValueError):
    """The URL is not one a webhook may be sent to; the message says why."""


def check_url(url: str, settings: Settings) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, all allowed; else AddressRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("the URL must be http:// or https://")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username or parts.password:
        raise AddressRefused("credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise AddressRefused(f"cannot resolve {parts.hostname!r}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        refusal = _refusal(address, settings)
        if refusal:
            raise AddressRefused(f"{parts.hostname} resolves to {address}, {refusal}")
    return addresses


def _refusal(address: IPAddress, settings: Settings) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _refusal(address.ipv4_mapped, settings)
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address.is_loopback:
        return None if settings.webhook_allow_loopback else "loopback (set DEEPFEAT_WEBHOOK_ALLOW_LOOPBACK)"
    if address.is_private and not settings.webhook_allow_private:
        return "a private address (set DEEPFEAT_WEBHOOK_ALLOW_PRIVATE)"
    return None
