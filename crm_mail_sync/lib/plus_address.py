"""Plus-addresses that point a reply at a record: ``sales+lead42@`` and its signed form.

A mailbox ``sales@example.com`` also receives mail to ``sales+<tag>@example.com``
(subaddressing, RFC 5233). The tag names a record in two forms:

* readable, ``<prefix><id>`` (``lead42``, ``case17``, ``partner5``): anyone may type
  it, so it only joins the record for a sender who takes part in its conversation;
* signed, ``<prefix><id>-<mac>``: put by this add-on in the Reply-To of mail it sends
  about a record; the keyed hash (HMAC, 64 bits in 13 base32 letters, the same
  key as the token Message-IDs) proves that the sender got that mail, as a token
  Message-ID does in References.

The tag is lowercase only (mail systems may lowercase a local part) and short (mail
clients show it). Which prefix names which model is the caller's business.
"""

import base64
import hashlib
import hmac
import re

from .addresses import SEPARATOR

SIGNED, READABLE, FORGED = "signed", "readable", "forged"
_TAG = re.compile(r"^(?P<prefix>[a-z]{1,16})(?P<res_id>[1-9]\d{0,17})(?:-(?P<mac>.*))?$")


def _mac(key, prefix, res_id):
    message = f"plus-address:{prefix}:{int(res_id)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:8]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def make_tag(key, prefix, res_id):
    """The signed tag of record ``res_id`` named by ``prefix``: ``case17-<mac>``."""
    return f"{prefix}{int(res_id)}-{_mac(key, prefix, res_id)}"


def plus_address(address, tag):
    """``address`` with ``tag`` added to its local part."""
    local, _at, domain = address.rpartition("@")
    return f"{local}{SEPARATOR}{tag}@{domain}"


def read_tag(key, tag):
    """Read a tag: ``(prefix, res_id, kind)``, ``kind`` being ``SIGNED`` for a valid
    signed tag, ``READABLE`` for one without signature, ``FORGED`` when the signature
    is wrong (forged or garbled); None when the tag names no record (``newsletter``)."""
    match = _TAG.match((tag or "").lower())
    if not match:
        return None
    prefix, res_id, mac = match["prefix"], int(match["res_id"]), match["mac"]
    if mac is None:
        return prefix, res_id, READABLE
    if not mac.isascii() or not hmac.compare_digest(mac, _mac(key, prefix, res_id)):
        return prefix, res_id, FORGED
    return prefix, res_id, SIGNED
