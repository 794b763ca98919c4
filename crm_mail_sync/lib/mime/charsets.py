"""Charsets: which codec a label means, and decoding bytes with fallbacks that never raise."""

import codecs
import contextlib
import re
from functools import lru_cache

_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
# Charset labels found in real mail that Python does not know, or knows as a
# narrower charset than the senders actually used (the choices of the WHATWG
# Encoding Standard, which browsers and mail clients follow).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "big5": "big5hkscs",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "x-mac-ce": "mac-latin2",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-greek": "mac-greek",
    "x-mac-turkish": "mac-turkish",
    "x-mac-icelandic": "mac-iceland",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that say nothing useful: decode by guessing, from UTF-8 down.
_ASCII_LABELS = frozenset(("us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us", "646"))
_LATIN1_LABELS = frozenset(label for label, codec in _CHARSET_ALIASES.items() if codec == "cp1252")
# Codecs whose bytes are not ASCII-compatible: 7-bit text is not the same text in them.
_NOT_ASCII_COMPATIBLE = ("utf-16", "utf-32", "utf-7", "iso2022", "hz")


@lru_cache(maxsize=512)
def _resolve_charset(label):
    """Return the Python codec for a charset label, 'ascii', or None when unknown."""
    if label in _ASCII_LABELS:
        return "ascii"
    name = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    # codecs also knows bytes-to-bytes codecs (zlib, base64, rot13...): not charsets.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _clean_label(charset):
    return (charset or "").strip().strip("\"'").strip().lower()


def decode_bytes(data, charset=None, warnings=None, what="text"):
    """Decode ``data`` declared as ``charset``; never raise.

    The declared charset first, then UTF-8 (replacing the odd invalid byte when the
    data is clearly UTF-8), then Windows-1252, then Latin-1, which cannot fail. A
    warning naming the charset actually used is added when the declared one was
    unknown or wrong, and when 8-bit data had no usable charset and was not UTF-8.
    """
    label = _clean_label(charset)
    codec = _resolve_charset(label) if label else None
    if data.isascii() and (codec is None or not codec.startswith(_NOT_ASCII_COMPATIBLE)):
        return data.decode("ascii")
    problem = None
    if codec and codec != "ascii":
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            if label in _LATIN1_LABELS:
                # Bytes undefined in Windows-1252 but valid in the declared Latin-1.
                return data.decode("latin-1")
            problem = f"{what} declared as {label} is not valid {label}"
    elif label and codec is None:
        problem = f"unknown charset {label!r} in {what}"
    text, used = _guess_decode(data)
    if warnings is not None and (problem or used != "utf-8"):
        problem = problem or f"{what} holds 8-bit bytes without a usable charset"
        warnings.append(f"{problem}, decoded as {used}")
    return text


def _guess_decode(data):
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8"), "utf-8"
    if _UTF8_SEQUENCE.search(data):
        # Mostly UTF-8 with a few broken bytes (a cut multi-byte character): keeping
        # UTF-8 loses one character, a single-byte charset would garble all others.
        return data.decode("utf-8", "replace"), "utf-8 (invalid bytes replaced)"
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
