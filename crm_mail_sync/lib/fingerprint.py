"""Content fingerprints and de-duplication keys for raw messages.

The same message delivered to two mailboxes, or kept in two folders, differs in its
trace headers (Received, Delivered-To, Return-Path, X-...) and sometimes in line
endings; its content does not. The fingerprint hashes only the content, so such
copies share it, while a message that merely reuses a Message-ID does not.
"""

import hashlib
import re

# Headers that describe the content; everything else is transport noise.
CONTENT_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"content-type",
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_WS = re.compile(rb"\s+")


def _split(raw):
    match = _HEADER_END.search(raw)
    if not match:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def _content_headers(header_block):
    values = {}
    name = None
    for line in header_block.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and name is not None:
            values[name][-1] += b" " + line.strip()
            continue
        key, sep, value = line.partition(b":")
        if not sep:
            name = None
            continue
        name = key.strip().lower()
        values.setdefault(name, []).append(value.strip())
    parts = []
    for header in CONTENT_HEADERS:
        for value in values.get(header, ()):
            parts.append(header + b":" + _WS.sub(b" ", value))
    return b"\n".join(parts)


def _canonical_body(body):
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return b"\n".join(lines)


def content_fingerprint(raw):
    """Return the sha256 hex digest of the message's content.

    :param bytes raw: the message as the server sent it
    """
    headers, body = _split(raw)
    digest = hashlib.sha256()
    digest.update(_content_headers(headers))
    digest.update(b"\n\n")
    digest.update(_canonical_body(body))
    return digest.hexdigest()


def message_key(message_id, raw, fingerprint=None):
    """Return the key an email is stored under with its fingerprint.

    The Message-ID when there is one; otherwise a synthetic id derived from the
    content, so the same message without Message-ID seen twice gets the same key.
    """
    if message_id:
        return message_id
    fingerprint = fingerprint or content_fingerprint(raw)
    return f"<{fingerprint[:32]}@crm-mail-sync.invalid>"
