"""Message-IDs that prove a reply answers mail this database sent about a record.

Mail sent from a case, a lead or a contact carries a Message-ID holding the record
and a keyed hash (HMAC) of it. A reply quotes that Message-ID in In-Reply-To or
References; finding a valid one there shows that its sender holds mail we sent
about that record (as a recipient, or because a recipient forwarded it), which a
stranger who only guesses or copies a customer's own Message-ID cannot fake.
"""

import hashlib
import hmac
import re
import secrets

PREFIX = "crm-"
_TOKEN_ID = re.compile(
    r"^<?crm-(?P<nonce>[0-9a-f]{16})-(?P<tag>[0-9a-f]{16})-(?P<res_id>\d{1,18})"
    r"-(?P<model>[a-z][a-z0-9_.]{0,63})@[^>\s]+>?$"
)


def _tag(key, model, res_id, nonce):
    message = f"{model}:{res_id}:{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def make_message_id(key, model, res_id, domain, nonce=None):
    """Return a Message-ID for mail about record ``model``/``res_id``.

    :param bytes key: the database's secret for these tokens
    :param str domain: the right-hand side, e.g. the sending mailbox's domain
    """
    nonce = nonce or secrets.token_hex(8)
    tag = _tag(key, model, int(res_id), nonce)
    return f"<{PREFIX}{nonce}-{tag}-{int(res_id)}-{model}@{domain or 'localhost'}>"


def read_message_id(key, message_id):
    """Return ``(model, res_id)`` when ``message_id`` is a valid token, else None."""
    match = _TOKEN_ID.match((message_id or "").strip())
    if not match:
        return None
    model, res_id, nonce = match["model"], int(match["res_id"]), match["nonce"]
    if not hmac.compare_digest(match["tag"], _tag(key, model, res_id, nonce)):
        return None
    return model, res_id
