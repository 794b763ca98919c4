"""Base64 bodies and attachments as mailers really send them.

Blobs glued together, junk characters and broken padding are decoded as far as they
go; the alphabet is shared with the RFC 2047 decoding of headers.
"""

import binascii
import re

_B64_PADDING = re.compile(rb"=+")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# For ``bytes.translate(None, delete)``: keep only the alphabet, or only the junk.
_B64_NOT_ALPHABET = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
_B64_VALID = _B64_ALPHABET + b"= \t\r\n"


def _decode_base64(data, warnings, what):
    junk = data.translate(None, _B64_VALID)
    if not junk and b"=" in data.rstrip(b" \t\r\n="):
        # Padding inside clean data: base64 blobs glued together (some mailers encode
        # line by line). The decoder would stop at the first padding.
        return b"".join(_decode_base64_chunk(chunk) for chunk in _B64_PADDING.split(data))
    try:
        decoded = binascii.a2b_base64(data)
    except binascii.Error:
        decoded = None
    if decoded is not None and not junk:
        return decoded
    # Junk characters or broken padding: keep what can be decoded.
    warnings.append(f"invalid base64 in {what}, decoded as far as possible")
    return decoded if decoded is not None else _decode_base64_chunk(data)


def _decode_base64_chunk(data):
    cleaned = data.translate(None, _B64_NOT_ALPHABET)
    cleaned = cleaned[: len(cleaned) - 1] if len(cleaned) % 4 == 1 else cleaned
    return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
