"""Which addresses a mail account may make the server connect to.

A mail account makes the Odoo server open a connection to the host and port its owner
typed. Left open, a user could aim it at the server's own network (its database,
loopback services, private ranges) and learn what answers there. An ``AddressPolicy``
refuses every address that is not globally routable unless an administrator allowed
it. It judges the address actually connected to, after DNS resolution, so a name
that resolves to a private address is refused as that address would be.

Allowed entries are IP addresses (``10.0.0.5``), networks (``192.168.10.0/24``) and
host names (``mail.intranet.example``). A host name entry matches the host an account
uses, compared case-insensitively and without a trailing dot; such an account may then
connect to whatever the name resolves to. The entry's name is not resolved by the
policy: the account connects through that very name, so its addresses are the ones
allowed, and an account using another name (or a bare address) gets no benefit from it.
"""

import contextlib
import ipaddress
import re

from .errors import AddressRefused

# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SEPARATORS = re.compile(r"[\s,;]+")
_HOST_NAME = re.compile(r"[\w-]+(\.[\w-]+)*")


def split_entries(text):
    """The entries of a comma-separated list (commas, semicolons or spaces)."""
    return [entry for entry in _SEPARATORS.split(text or "") if entry]


def _normalize_host(name):
    return (name or "").strip().rstrip(".").lower()


def _parse_entry(entry):
    """Return ``("network", ip_network)`` or ``("host", name)``; ValueError otherwise."""
    value = entry.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    with contextlib.suppress(ValueError):
        return "network", ipaddress.ip_network(value, strict=False)
    name = _normalize_host(value)
    # A bare number is a malformed address, not a name ("10.0.0" or "127.1").
    if not _HOST_NAME.fullmatch(name) or name.replace(".", "").isdigit():
        raise ValueError(f"not a host name, IP address or network: {entry!r}")
    return "host", name


def invalid_entries(text):
    """The entries of ``text`` that are neither host names, IP addresses nor networks."""
    invalid = []
    for entry in split_entries(text):
        try:
            _parse_entry(entry)
        except ValueError:
            invalid.append(entry)
    return invalid


def _ip(address):
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return address
    # getaddrinfo gives link-local IPv6 addresses with their zone: "fe80::1%eth0".
    return ipaddress.ip_address(str(address).split("%", 1)[0])


def _embedded_ipv4(ip):
    """The IPv4 address an IPv6 address leads to (mapped, 6to4, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address):
    """Whether ``address`` is globally routable: not loopback, link-local, private,
    shared, reserved, documentation, unspecified nor multicast.

    IPv6 forms that lead to an IPv4 address are judged by that address.
    """
    ip = _ip(address)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public(embedded)
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    # Deprecated site-local IPv6 (fec0::/10) still counts as global for ipaddress.
    return not (ip.version == 6 and ip.is_site_local)


class AddressPolicy:
    """The addresses a connection may go to: public ones and the allowed entries.

    :param allowed: host names, IP addresses and networks; an invalid entry raises
        ValueError (use ``from_text`` to skip them)
    """

    def __init__(self, allowed=()):
        self.networks = []
        self.host_names = set()
        for entry in allowed:
            kind, value = _parse_entry(entry)
            if kind == "network":
                self.networks.append(value)
            else:
                self.host_names.add(value)

    @classmethod
    def from_text(cls, text):
        """A policy from a comma-separated list; invalid entries allow nothing."""
        invalid = set(invalid_entries(text))
        return cls([entry for entry in split_entries(text) if entry not in invalid])

    def __repr__(self):
        allowed = sorted(self.host_names) + [str(network) for network in self.networks]
        return f"<AddressPolicy allowing public addresses and {allowed}>"

    def allows(self, address, host=None):
        """Whether a connection to ``address`` (an IP) may be made.

        :param host: the host name the connection was asked for, matched against the
            allowed host names
        """
        if host is not None and _normalize_host(host) in self.host_names:
            return True
        ip = _ip(address)
        forms = [ip]
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            forms.append(embedded)
        for network in self.networks:
            if any(form.version == network.version and form in network for form in forms):
                return True
        return is_public(ip)

    def filter_addresses(self, host, port, addrinfos):
        """Keep the ``socket.getaddrinfo`` results of ``host`` this policy allows.

        :raise AddressRefused: when it allows none of them
        """
        allowed = [info for info in addrinfos if self.allows(info[4][0], host)]
        if not allowed:
            raise AddressRefused.for_server(host, port)
        return allowed
