"""Content fingerprints and de-duplication keys for raw messages.

The same message delivered to two mailboxes, or kept in two folders, differs in its
trace headers (Received, Delivered-To, Return-Path, X-...), sometimes in line
endings and trailing whitespace; its content does not. The fingerprint hashes only
the content, so such copies share it, while a message that merely reuses a
Message-ID (a forgery, or a broken mailer) does not.

No MIME parsing here: the header block is split off at the first blank line and
read line by line, which is an order of magnitude faster than parsing.
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
SYNTHETIC_DOMAIN = "crm-mail-sync.invalid"
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
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                # Folding is presentation: servers may re-fold, the value stays.
                values[name][-1] += b" " + line.strip()
            continue
        key, sep, value = line.partition(b":")
        name = key.strip().lower() if sep else None
        if name in CONTENT_HEADERS:
            values.setdefault(name, []).append(value.strip())
        else:
            name = None
    parts = []
    for header in CONTENT_HEADERS:
        for value in values.get(header, ()):
            # Stripped after unfolding: "To:" folded right after the colon is the same.
            parts.append(header + b":" + _WS.sub(b" ", value).strip())
    return b"\n".join(parts)


def _canonical_body(body):
    # bytes.splitlines breaks lines where normalising \r\n and \r to \n would, and
    # nowhere else; blank lines at the end leave only \n at the end of the join. No
    # Python code runs per line: bodies are often megabytes of base64.
    return b"\n".join(map(bytes.rstrip, body.splitlines())).rstrip(b"\n")


def canonical_content(raw):
    """Return the bytes the fingerprint is computed from (for diagnostics and tests).

    The content headers (From, To, Cc, Subject, Date, Message-ID, In-Reply-To,
    Content-Type) unfolded and whitespace-collapsed, a blank line, then the body
    with LF line endings, no trailing whitespace and no trailing blank lines.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    # Blank lines before the headers (some exports add them) are not content.
    raw = bytes(raw).lstrip(b"\r\n")
    headers, body = _split(raw)
    return _content_headers(headers) + b"\n\n" + _canonical_body(body)


def content_fingerprint(raw):
    """Return the sha256 hex digest of the message's content.

    Identical for copies of one message that differ only in trace headers, line
    endings or trailing whitespace; different as soon as a content header or the
    body differs.

    :param bytes raw: the message as the server sent it
    """
    return hashlib.sha256(canonical_content(raw)).hexdigest()


def message_key(message_id, raw, fingerprint=None):
    """Return the key an email is stored under, with its fingerprint.

    The Message-ID when there is one; otherwise a synthetic id derived from the
    content fingerprint, so that the same message without Message-ID seen twice
    (two folders, two mailboxes, a re-sync) gets the same key.

    :param str message_id: the parsed Message-ID ('' or None when missing)
    :param bytes raw: the message, used when ``fingerprint`` is not given
    :param str fingerprint: ``content_fingerprint(raw)`` when already computed
    """
    message_id = (message_id or "").strip()
    if message_id:
        return message_id
    fingerprint = fingerprint or content_fingerprint(raw)
    return f"<{fingerprint[:32]}@{SYNTHETIC_DOMAIN}>"
