"""Email addresses: the one normaliser of the add-on, and the forms to look them up by.

Odoo keeps ``email_normalized`` on contacts, leads and users' partners, filled by
``odoo.tools.email_normalize``: the local part is lowercased only when it is ASCII
(SMTPUTF8 local parts are case-sensitive), the domain is lowercased and kept as
written, Unicode or not. The archive stores addresses in exactly that form, so that
an address read from a message and the same address typed on a contact compare
equal, whatever its case or script.

An internationalised domain travels either as Unicode (SMTPUTF8 mail) or in its
ASCII ("xn--") form; both are the same address. ``address_forms`` gives both, for
lookups against what Odoo stored, which may hold either.
"""

import contextlib
from functools import lru_cache


def normalize_address(addr):
    """Return ``addr`` as Odoo's ``email_normalize`` would store it, or '' when it is
    not one address.

    Stripped of whitespace, ``<>`` and ``mailto:``; an ASCII local part lowercased,
    a non-ASCII one kept as is; the domain lowercased, in the script it was written in.
    """
    if not addr or not isinstance(addr, str):
        return ""
    return _normalize_address(addr)


@lru_cache(maxsize=8192)
def _normalize_address(addr):
    # Cached: a mailbox repeats the same few hundred addresses thousands of times.
    addr = addr.strip().strip("<>").strip()
    if addr[:7].lower() == "mailto:":
        addr = addr[7:]
    if any(char.isspace() for char in addr):
        # "John Doe john@example.com" (no angle brackets): keep the one address in it.
        candidates = [token.strip("<>,;") for token in addr.split() if "@" in token]
        if len(candidates) != 1:
            return ""
        addr = candidates[0]
    local, sep, domain = addr.rpartition("@")
    domain = domain.strip(".")
    if not sep or not local or not domain or "@" in local.strip('"') or "<" in addr:
        return ""
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain.lower()}"


@lru_cache(maxsize=8192)
def address_forms(address):
    """The forms a normalised ``address`` may be stored under: itself and, for an
    internationalised domain, its Unicode or ASCII ("xn--") twin.

    :param str address: an address as ``normalize_address`` returns it
    :rtype: tuple
    """
    if not address:
        return ()
    local, _sep, domain = address.rpartition("@")
    twin = None
    # Not a valid internationalised name: only the form given.
    with contextlib.suppress(UnicodeError):
        if not domain.isascii():
            twin = domain.encode("idna").decode("ascii")
        elif "xn--" in domain:
            twin = domain.encode("ascii").decode("idna").lower()
    if twin and twin != domain:
        return (address, f"{local}@{twin}")
    return (address,)


# Subaddressing (RFC 5233): ``sales+anything@x`` is delivered to ``sales@x``.
SEPARATOR = "+"


def split_plus(address):
    """``(base, tag)`` of a normalised address: ``("sales@x", "lead42")`` for
    ``sales+lead42@x``; ``(address, "")`` without a tag.

    ``normalize_address`` keeps the tag (``john+news@x`` may be a contact's own
    address); only a mailbox's own address is read with its tag taken off
    (``is_own_address``).
    """
    local, at, domain = (address or "").rpartition("@")
    base_local, sep, tag = local.partition(SEPARATOR)
    if not at or not sep or not base_local:
        return address, ""
    return f"{base_local}@{domain}", tag


def is_own_address(address, own):
    """Whether the normalised ``address`` is one of the mailboxes ``own`` (normalised
    addresses, in any of their forms), with or without a plus tag: mail to
    ``sales+lead42@x`` reaches ``sales@x``."""
    if not address:
        return False
    if address in own:
        return True
    base, tag = split_plus(address)
    return bool(tag) and base in own


def address_list(from_address, recipients):
    """The addresses of an email, sender first, empty ones left out.

    :param recipients: the To and Cc addresses: a list, or comma-joined as an archived
        email stores them (``recipient_addresses``)
    """
    if not isinstance(recipients, list | tuple):
        recipients = (recipients or "").split(",")
    return [address for address in (from_address, *recipients) if address]


def domain_of(address):
    """The domain of a normalised address, in both forms when internationalised."""
    return {form.rpartition("@")[2] for form in address_forms(address)}
