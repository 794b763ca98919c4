"""Turn raw RFC 5322 messages into plain Python values, robustly and fast.

No Odoo import: the ORM layer sanitises the HTML and stores the values. Anything
wrong with a message that can be worked around is worked around and described in
``ParsedMessage.warnings``; only input with nothing usable in it raises
``MessageParseError`` (the caller then keeps it raw in a quarantine).

Speed: ``email.policy.compat32`` is used on purpose, it is several times faster than
``policy.default``, whose header registry parses every header into objects. Headers
are therefore read raw (``Message.raw_items``) and decoded here: RFC 2047 words,
RFC 2231 parameters and raw 8-bit bytes, with charset fallbacks that never raise.
"""

import binascii
import codecs
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.errors import MissingHeaderBodySeparatorDefect
from email.feedparser import FeedParser
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from .addresses import normalize_address

MB = 1024 * 1024
# Body text or HTML kept per message, in characters. The rest goes to an attachment:
# Odoo's sanitizer needs about a second per MB of HTML, and nobody reads further.
MAX_BODY_SIZE = 2 * MB
# MIME nesting (multipart and message/* parts) that is parsed. Real mail stays far
# below; deeper parts are kept as unparsed text, so that a message nested thousands
# of levels deep cannot exhaust the stack of the parser or of the .eml generator.
MAX_MIME_DEPTH = 40

# Headers of which at least one must be present for the bytes to count as an email.
KNOWN_HEADERS = frozenset(
    (
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
        "received",
        "return-path",
        "delivered-to",
        "reply-to",
        "sender",
    )
)
# Raw-ish headers exposed in ``ParsedMessage.headers`` (loop and auto-reply checks).
EXPOSED_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "auto-submitted",
    "precedence",
    "return-path",
    "delivered-to",
    "x-auto-response-suppress",
    "x-loop",
    "x-autoreply",
    "x-autorespond",
)

_PARSER = BytesParser(policy=compat32)
_MSGID = re.compile(r"<[^<>\s]+>")
# Bounded, so that hostile headers full of "=?" cannot make matching quadratic.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?(.{0,512}?)\?=")
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
# One plain address, or one "Name <address>": most headers, parsed without
# ``getaddresses`` (pure Python, and the slowest step of a typical message).
_ATOM_ADDRESS = r'[^\s<>(),;:"@\[\]\\]++@[^\s<>(),;:"@\[\]\\]++'
_SIMPLE_ADDRESS = re.compile(
    r'(?:"((?:[^"\\]|\\.)*+)"\s*+|([^"<>(),;:@\[\]\\]*+))<(%s)>|(%s)'
    % (_ATOM_ADDRESS, _ATOM_ADDRESS)
)
_ADDRESS_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_B64_PADDING = re.compile(rb"=+")
_KNOWN_HEADER_LINE = re.compile(
    rb"(?i)(%s)[ \t]*:" % b"|".join(re.escape(name.encode()) for name in sorted(KNOWN_HEADERS))
)
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# For ``bytes.translate(None, delete)``: keep only the alphabet, or only the junk.
_B64_NOT_ALPHABET = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
_B64_VALID = _B64_ALPHABET + b"= \t\r\n"

# HTML to text. Every pattern stops at the next "<", which keeps matching linear on
# hostile input (thousands of unclosed "<").
_HTML_HIDDEN = re.compile(r"<(script|style|head|title)\b", re.I)
_HTML_CLOSE = {
    name: re.compile(rf"</{name}\b[^<>]*>", re.I) for name in ("script", "style", "head", "title")
}
_HTML_BREAK = re.compile(
    r"<\s*/?\s*(br|p|div|tr|li|ul|ol|h[1-6]|table|blockquote|pre|hr)\b[^<>]*>", re.I
)
_HTML_TAG = re.compile(r"<[^<>]*>")
_HTML_TAG_REST = re.compile(r"[^<>]*>?")
_BLANKS = re.compile(r"\n\s*\n\s*\n+")
_SPACES = re.compile(r"[ \t\xa0]+")

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
_DEFAULT_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "text/rfc822-headers": "original-headers.txt",
    "text/calendar": "invite.ics",
}
_DEFAULT_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/rfc822-headers": ".txt",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "application/pdf": ".pdf",
    "application/ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/pgp-signature": ".asc",
    "application/zip": ".zip",
    "application/json": ".json",
    "application/xml": ".xml",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
}
_HEADER_TITLES = {"message-id": "Message-ID", "list-id": "List-ID", "x-loop": "X-Loop"}
_DEFECT_TEXTS = {
    "CloseBoundaryNotFoundDefect": "the closing MIME boundary is missing",
    "StartBoundaryNotFoundDefect": "the MIME boundary never appears; the body was read as text",
    "NoBoundaryInMultipartDefect": "multipart without a boundary; the body was read as text",
    "MissingHeaderBodySeparatorDefect": "a malformed header line ended the headers early",
    "FirstHeaderLineIsContinuationDefect": "the first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "an mbox 'From ' line sits among the headers",
    "InvalidMultipartContentTransferEncodingDefect": "a multipart part has a transfer encoding",
    # Follows from one of the above; saying it again helps nobody.
    "MultipartInvariantViolationDefect": None,
}


class MessageParseError(Exception):
    """The bytes hold nothing that can be stored as an email."""


@dataclass
class ParsedAttachment:
    """One attachment, inline image or forwarded message of a parsed email."""

    name: str
    content: bytes
    mimetype: str
    content_id: str | None = None
    inline: bool = False
    size: int = 0
    truncated: bool = False


@dataclass
class ParsedMessage:
    """Everything the archive stores about one message, as plain Python values."""

    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    subject: str = ""
    email_from: str = ""
    from_address: str = ""
    email_to: str = ""
    email_cc: str = ""
    reply_to: str = ""
    to_addresses: list[str] = field(default_factory=list)
    cc_addresses: list[str] = field(default_factory=list)
    date: datetime | None = None
    body_text: str = ""
    body_html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size: int = 0
    is_auto_submitted: bool = False
    headers: dict = field(default_factory=dict)


# ----------------------------------------------------------------------
# Addresses (normalised by lib.addresses, the add-on's one normaliser)
# ----------------------------------------------------------------------


def extract_addresses(header_value):
    """Return the distinct normalised addresses of an address header value.

    RFC 2047 display names do not matter here: the addresses are read from the
    undecoded value, so an encoded name cannot smuggle in an address.
    """
    if not header_value:
        return []
    result = []
    for _name, addr in getaddresses([str(header_value)]):
        normalized = normalize_address(addr)
        if normalized and normalized not in result:
            result.append(normalized)
    return result


def format_address(name, addr):
    """Return ``Name <addr>``, quoting the name when it holds specials (commas...)."""
    if not addr:
        return name
    if not name or name == addr:
        return addr
    if _ADDRESS_SPECIALS.search(name):
        name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    return f"{name} <{addr}>"


# ----------------------------------------------------------------------
# Charsets and headers
# ----------------------------------------------------------------------


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
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _UTF8_SEQUENCE.search(data):
        # Mostly UTF-8 with a few broken bytes (a cut multi-byte character): keeping
        # UTF-8 loses one character, a single-byte charset would garble all others.
        return data.decode("utf-8", "replace"), "utf-8 (invalid bytes replaced)"
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _from_8bit(value, warnings, what):
    """Turn raw 8-bit header bytes (surrogate-escaped by the parser) into text."""
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # Already real text, not bytes from the wire.
    # RFC 6532 allows UTF-8 in headers; anything else gets guessed with a warning.
    return decode_bytes(data, None, warnings, what)


def _decode_words(text, warnings, what):
    """Decode the RFC 2047 encoded words of ``text``; malformed ones are kept as is."""
    pieces = []  # str for plain text, [bytes, charset] for decoded words
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        position = match.end()
        charset, encoding, encoded = match.groups()
        charset = charset.partition("*")[0].lower()  # RFC 2231 language suffix
        try:
            data = encoded.encode("utf-8", "surrogateescape")
            if encoding in "bB":
                data = data.translate(None, _B64_NOT_ALPHABET)
                if len(data) % 4 == 1:
                    raise ValueError("truncated base64")
                data = binascii.a2b_base64(data + b"=" * (-len(data) % 4))
            else:
                data = binascii.a2b_qp(data, header=True)
        except (binascii.Error, ValueError):
            if warnings is not None:
                warnings.append(f"malformed encoded word in {what} kept as is")
            pieces.extend((gap, match.group(0)))
            continue
        previous = pieces[-1] if pieces else None
        # Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
        if gap and not (isinstance(previous, list) and gap.isspace()):
            pieces.append(gap)
            previous = None
        if isinstance(previous, list) and previous[1] == charset:
            # Same charset: join before decoding, a multi-byte character may be split.
            previous[0] += data
        else:
            pieces.append([data, charset])
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(
        piece if isinstance(piece, str) else decode_bytes(piece[0], piece[1], warnings, what)
        for piece in pieces
    )


def decode_header_value(value, warnings=None, what="a header"):
    """Return a header value as one line of text.

    Raw 8-bit bytes and RFC 2047 encoded words are decoded, folding and other
    CR/LF runs collapse to one space.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        value = _from_8bit(value, warnings, what)
    if "=?" in value:
        value = _decode_words(value, warnings, what)
    if "\n" in value or "\r" in value:
        value = _join_lines(value)
    return value.strip()


def _join_lines(value):
    """Collapse line breaks and the whitespace around them to one space (linear time)."""
    return " ".join(line.strip() for line in value.splitlines() if line and not line.isspace())


def _unfold(value, warnings, what):
    """Undo folding and 8-bit bytes, but keep RFC 2047 words (for address parsing)."""
    if not value.isascii():
        value = _from_8bit(value, warnings, what)
    if "\n" in value or "\r" in value:
        value = _join_lines(value)
    return value.strip()


def _split_addresses(text):
    """Return the (name, address) pairs of an unfolded address header value."""
    match = _SIMPLE_ADDRESS.fullmatch(text)
    if match:
        quoted, plain, addr, bare = match.groups()
        if bare:
            return [("", bare)]
        if quoted is not None:
            return [(_QUOTED_PAIR.sub(r"\1", quoted), addr)]
        return [(" ".join(plain.split()), addr)]
    try:
        return getaddresses([text])
    except Exception:  # The address parser is not guaranteed against hostile input.
        return []


def _address_header(values, warnings, what):
    """Return (display string, normalised addresses) of address header values."""
    if not values:
        return "", []
    text = _unfold(", ".join(values), warnings, what)
    if not text:
        return "", []
    # A dict keeps the order and finds repeats in constant time: a header of ten
    # thousand recipients must not cost a hundred million comparisons.
    display, addresses = [], {}
    for name, addr in _split_addresses(text):
        addr = addr.strip()
        if "=?" in name:
            name = _decode_words(name, warnings, what)
        name = name.strip()
        normalized = normalize_address(addr)
        if normalized:
            addresses.setdefault(normalized)
        if normalized or name:
            display.append(format_address(name, addr))
    if not addresses:
        # Nothing recognisable ("Mailer Daemon", "undisclosed-recipients:;"): show it.
        return decode_header_value(text, warnings, what), []
    return ", ".join(display), list(addresses)


def _message_id(value):
    value = (value or "").strip()
    if not value:
        return ""
    match = _MSGID.search(value) or _MSGID.search("".join(value.split()))
    if match:
        return match.group(0)[:998]
    token = value.split()[0].strip("<>")
    return f"<{token}>"[:998] if token else ""


def _references(value):
    ids = _MSGID.findall(value)
    if not ids:
        # Some mailers omit the angle brackets: keep the tokens that look like ids.
        ids = [f"<{token.strip('<>,')}>" for token in value.split() if "@" in token]
    if len(ids) > 100:
        # Keep the thread's root and its most recent ancestors, the ones threading uses.
        ids = ids[:1] + ids[-99:]
    return ids


def _parse_date(value, warnings):
    if not value:
        warnings.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except Exception:  # TypeError/ValueError/OverflowError depending on the garbage.
        warnings.append(f"unreadable Date header {value[:60]!r}")
        return None
    if not 1970 <= parsed.year <= 2100:
        warnings.append(f"implausible Date header {value[:60]!r}")
        return None
    return parsed


def _content_params(value, warnings, what):
    """Split a Content-Type or Content-Disposition value into (value, params).

    Parameters are unquoted; RFC 2231 ones (``name*=charset''%XX``, continuations
    ``name*0*=``) are merged and decoded under their plain name.
    """
    if not value:
        return "", {}
    value = _unfold(value, warnings, what)
    main, _sep, rest = value.partition(";")
    params, extended = {}, {}
    for match in _PARAM.finditer(";" + rest):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1] if raw.endswith('"') else raw[1:])
        if "*" in name:
            base, _star, section = name.partition("*")
            encoded = section.endswith("*") or not section
            index = section.rstrip("*")
            if index.isdigit() or not index:
                extended.setdefault(base, []).append((int(index or 0), encoded, raw))
                continue
        params.setdefault(name, raw)
    for base, sections in extended.items():
        sections.sort(key=lambda section: section[0])
        charset, chunks = "", []
        for number, (_index, encoded, raw) in enumerate(sections):
            if encoded:
                if number == 0 and raw.count("'") >= 2:
                    charset, _lang, raw = raw.split("'", 2)
                chunks.append(unquote_to_bytes(raw))
            else:
                chunks.append(raw.encode("utf-8", "surrogateescape"))
        params[base] = decode_bytes(b"".join(chunks), charset or "utf-8", warnings, what)
    return main.strip().lower(), params


def _humanize_defect(defect):
    name = type(defect).__name__
    if name in _DEFECT_TEXTS:
        return _DEFECT_TEXTS[name]
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()


def _safe_name(name):
    """Return a file name without path separators or control characters."""
    name = "".join(char for char in name or "" if char >= " " and char != "\x7f")
    name = " ".join(name.replace("/", "_").replace("\\", "_").split())
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 200 - len(ext) - 1]}.{ext}" if dot and len(ext) <= 10 else name[:200]
    return name


def _default_name(ctype):
    if ctype in _DEFAULT_NAMES:
        return _DEFAULT_NAMES[ctype]
    main, _sep, sub = ctype.partition("/")
    extension = _DEFAULT_EXTENSIONS.get(ctype)
    if not extension:
        extension = f".{sub}" if sub.isalnum() and len(sub) <= 8 else ".bin"
    return ("image" if main == "image" else "attachment") + extension


# ----------------------------------------------------------------------
# Bodies
# ----------------------------------------------------------------------


def html_to_text(body_html):
    """Return a readable plain-text version of an HTML body (no Odoo needed).

    Scripts, styles, the head and comments are dropped, block elements become line
    breaks, other tags vanish and entities are unescaped.
    """
    text = _HTML_TAG.sub("", _HTML_BREAK.sub("\n", _drop_hidden_html(body_html)))
    text = _SPACES.sub(" ", html.unescape(text))
    text = "\n".join(line.strip() for line in text.splitlines())
    return _BLANKS.sub("\n\n", text).strip()


def _drop_hidden_html(source):
    """Remove comments and script, style, head and title elements, in linear time."""
    out, position, length = [], 0, len(source)
    comment = source.find("<!--")
    hidden = _HTML_HIDDEN.search(source)
    while comment != -1 or hidden is not None:
        if hidden is None or (comment != -1 and comment < hidden.start()):
            start = comment
            end = source.find("-->", start + 4)
            stop = length if end == -1 else end + 3
        else:
            start, name = hidden.start(), hidden.group(1).lower()
            close = _HTML_CLOSE[name].search(source, hidden.end())
            if close is not None:
                stop = close.end()
            elif name in ("script", "style"):
                stop = length  # Unclosed: browsers treat the rest as script too.
            else:
                # </head> may be omitted: drop the opening tag alone.
                stop = _HTML_TAG_REST.match(source, hidden.end()).end()
        out.append(source[position:start])
        position = max(stop, start + 1)
        if comment != -1 and comment < position:
            comment = source.find("<!--", position)
        if hidden is not None and hidden.start() < position:
            hidden = _HTML_HIDDEN.search(source, position)
    out.append(source[position:])
    return "".join(out)


def text_to_html(body_text):
    """Return a simple, safe HTML version of a plain-text body: escaped paragraphs."""
    paragraphs = [p for p in re.split(r"\n\s*\n", body_text.strip()) if p.strip()]
    return "".join("<p>{}</p>".format(html.escape(p).replace("\n", "<br/>")) for p in paragraphs)


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


class _Part:
    """The raw headers of one MIME part, read once."""

    __slots__ = ("ctype", "disposition", "filename", "charset", "cte", "content_id")

    def __init__(self, part, warnings):
        headers = {}
        for name, value in part.raw_items():
            headers.setdefault(name.lower(), value)
        ctype, params = _content_params(headers.get("content-type"), warnings, "Content-Type")
        if ctype.count("/") != 1:
            # Same rule as the parser, so that both agree on the MIME structure.
            ctype = part.get_default_type()
        self.ctype = ctype
        self.charset = params.get("charset")
        disposition, dparams = _content_params(
            headers.get("content-disposition"), warnings, "Content-Disposition"
        )
        self.disposition = disposition
        filename = dparams.get("filename") or params.get("name") or ""
        if filename:
            filename = _safe_name(decode_header_value(filename, warnings, "a file name"))
        self.filename = filename
        cte = headers.get("content-transfer-encoding") or ""
        self.cte = cte.partition(";")[0].strip().strip("\"'").lower()
        content_id = headers.get("content-id") or ""
        self.content_id = _unfold(content_id, warnings, "Content-ID").strip("<>") or None


class _BodyCollector:
    """Walks the MIME tree, collecting body segments and attachments.

    A segment is one piece of body: ``[text, html]``, either possibly None. A
    multipart/alternative gives one segment with its best text and best HTML; a
    lone text/plain or text/html part gives a segment with one of the two.
    """

    def __init__(self, max_attachment_size, warnings, max_body_size=MAX_BODY_SIZE):
        self.cap = max_attachment_size
        self.warnings = warnings
        self.body_cap = max_body_size
        self.body_used = {}  # characters of body kept so far, per text/plain and text/html
        self.segments = []
        self.attachments = []

    def walk(self, part, depth=0):
        if depth > 30:
            self.warnings.append("MIME structure nested too deep; inner parts ignored")
            return
        info = _Part(part, self.warnings)
        for defect in part.defects:
            text = _humanize_defect(defect)
            if text:
                where = "message" if depth == 0 else f"{info.ctype} part"
                self._warn(f"{where}: {text}")
        maintype = info.ctype.partition("/")[0]
        payload = _raw_payload(part)
        if maintype == "message" and isinstance(payload, list):
            self._message_part(part, info, payload)
        elif isinstance(payload, list):
            if info.ctype == "multipart/alternative":
                self._alternative(payload, depth)
            else:
                for child in payload:
                    self.walk(child, depth + 1)
        elif maintype == "multipart":
            # No boundary, or one that never appears: the text is all there is.
            info.ctype = "text/plain"
            self._leaf(part, info)
        else:
            self._leaf(part, info)

    def _warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)

    def _alternative(self, children, depth):
        # Keep one text and one HTML version, the last (richest) of each kind.
        outer = self.segments
        self.segments = []
        try:
            for child in children:
                self.walk(child, depth + 1)
            texts = [text for text, _html in self.segments if text is not None and text.strip()]
            htmls = [html_ for _text, html_ in self.segments if html_ is not None]
        finally:
            self.segments = outer
        if texts or htmls:
            outer.append([texts[-1] if texts else None, htmls[-1] if htmls else None])

    def _leaf(self, part, info):
        what = f"{info.ctype} part"
        if (
            info.ctype in ("text/plain", "text/html")
            and info.disposition != "attachment"
            and not info.filename
        ):
            data = self._payload(part, info, what)
            text = decode_bytes(data, info.charset, self.warnings, what)
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            text = self._capped_body(text, info.ctype)
            self.segments.append([None, text] if info.ctype == "text/html" else [text, None])
            return
        name = info.filename or _default_name(info.ctype)
        estimate = self._base64_size(part, info)
        if estimate is not None and self.cap and estimate > self.cap * 1.01:
            # Clearly over the cap: do not spend time and memory decoding it.
            self._attachment(name, b"", info.ctype, info.content_id, size=estimate)
            return
        data = self._payload(part, info, what)
        self._attachment(name, data, info.ctype, info.content_id)

    def _capped_body(self, text, ctype):
        """Return what the body keeps of ``text``; a cut part is attached whole."""
        if not self.body_cap:
            return text
        used = self.body_used.get(ctype, 0)
        self.body_used[ctype] = used + len(text)
        left = max(self.body_cap - used, 0)
        if len(text) <= left:
            return text
        kind, name = ("HTML", "body.html") if ctype == "text/html" else ("text", "body.txt")
        data = text.encode("utf-8", "surrogateescape")
        kept = "too large to attach" if self.cap and len(data) > self.cap else f"attached as {name}"
        self.warnings.append(
            f"the {kind} body ({len(data) / MB:.1f} MB) exceeds the {self.body_cap / MB:.1f} MB "
            f"body cap and was cut; the whole {kind} is {kept}"
        )
        self._attachment(name, data, ctype)
        return text[:left]

    def _payload(self, part, info, what):
        payload = _raw_payload(part)
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            try:
                data = payload.encode("ascii", "surrogateescape")
            except UnicodeEncodeError:
                data = payload.encode("utf-8", "surrogateescape")
        else:
            return b""
        if info.cte == "base64":
            return _decode_base64(data, self.warnings, what)
        if info.cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if info.cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
            try:
                decoded = part.get_payload(decode=True)
            except Exception:
                decoded = None
            return decoded if decoded is not None else data
        return data

    @staticmethod
    def _base64_size(part, info):
        payload = _raw_payload(part)
        if info.cte != "base64" or not isinstance(payload, str):
            return None
        chars = len(payload) - payload.count("\n") - payload.count("\r") - payload.count(" ")
        return chars * 3 // 4 - payload.count("=")

    def _message_part(self, part, info, payload):
        if info.ctype not in ("message/rfc822", "message/global", "message/news"):
            # Delivery reports and the like: their header blocks, as a text file.
            data = b"\n".join(_as_bytes(block) for block in payload)
            self._attachment(info.filename or _default_name(info.ctype), data, info.ctype)
            return
        inner = payload[0] if payload else None
        subject = ""
        if info.cte not in ("base64", "quoted-printable"):
            data = _as_bytes(inner) if inner is not None else b""
        else:
            # Not allowed for message/rfc822, yet seen: the parser did not undo it.
            data = self._decoded_message(inner, info)
            try:
                inner = _PARSER.parsebytes(data, headersonly=True)
            except Exception:
                inner = None
        if inner is not None:
            for name, value in inner.raw_items():
                if name.lower() == "subject":
                    subject = decode_header_value(value, self.warnings, "a forwarded Subject")
                    break
        name = info.filename or f"{_safe_name(subject) or 'message'}.eml"
        self._attachment(name, data, "message/rfc822")

    def _decoded_message(self, inner, info):
        body = _raw_payload(inner) if inner is not None else ""
        data = body.encode("ascii", "surrogateescape") if isinstance(body, str) else b""
        if info.cte == "base64":
            return _decode_base64(data, self.warnings, "a forwarded message")
        return binascii.a2b_qp(data)

    def _attachment(self, name, data, mimetype, content_id=None, size=None):
        size = len(data) if size is None else size
        truncated = bool(self.cap) and size > self.cap
        if truncated:
            self.warnings.append(
                f"attachment {name!r} ({size / MB:.1f} MB) exceeds the "
                f"{self.cap / MB:.1f} MB cap and was not stored"
            )
        self.attachments.append(
            ParsedAttachment(
                name=name,
                content=b"" if truncated else data,
                mimetype=mimetype,
                content_id=content_id,
                inline=False,
                size=size,
                truncated=truncated,
            )
        )


def _raw_payload(part):
    """Return the payload as parsed: a list of parts, or str holding the raw bytes.

    ``Message.get_payload()`` would decode a str payload's 8-bit bytes with the
    declared charset and replace what does not fit; the charset fallbacks here
    need the bytes themselves (the parser keeps them surrogate-escaped).
    """
    payload = getattr(part, "_payload", None)
    return part.get_payload() if payload is None else payload


def _as_bytes(message):
    try:
        return message.as_bytes()
    except Exception:
        # The generator chokes on some broken headers; the text is still worth keeping.
        return str(message).encode("utf-8", "surrogateescape")


class _FlatPart(Message):
    """A message part that ``_BoundedFeedParser`` keeps as opaque text."""

    kept_flat = False

    def get_content_type(self):
        return "text/plain" if self.kept_flat else super().get_content_type()


class _BoundedFeedParser(FeedParser):
    """The standard parser, except that it stops descending at ``MAX_MIME_DEPTH``.

    The standard one nests a generator per level and fails with RecursionError
    somewhere around a few hundred levels, depending on the caller's stack.
    """

    def __init__(self):
        super().__init__(_FlatPart, policy=compat32)
        self.flattened = 0

    def _parse_headers(self, lines):
        super()._parse_headers(lines)
        # _msgstack holds the part being parsed and its ancestors.
        if len(self._msgstack) > MAX_MIME_DEPTH and self._cur.get_content_maintype() in (
            "multipart",
            "message",
        ):
            self._cur.kept_flat = True
            self.flattened += 1


def _parse_bytes(data):
    """Parse like ``BytesParser(policy=compat32).parsebytes``, with bounded depth.

    :return: (message, number of parts kept unparsed because too deep)
    """
    parser = _BoundedFeedParser()
    parser.feed(data.decode("ascii", "surrogateescape"))
    return parser.close(), parser.flattened


def _repair_headers(raw):
    """Drop lines among the headers that are not headers, so they do not end them.

    Only when a blank line ends the header block and a well-known header follows
    the bad line: otherwise the bad line is more likely the start of a body sent
    without the blank line, and the parser's reading is the right one.
    Returns the repaired bytes and the number of lines dropped (0: nothing to do).
    """
    ends = [index for index in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if index >= 0]
    if not ends:
        return raw, 0
    end = min(ends)
    lines = raw[:end].splitlines(keepends=True)
    good = [
        bool(_HEADER_LINE.match(line))
        or (index > 0 and line[:1] in (b" ", b"\t"))
        or (index == 0 and line.startswith(b"From "))
        for index, line in enumerate(lines)
    ]
    if all(good):
        return raw, 0
    first_bad = good.index(False)
    if not any(_KNOWN_HEADER_LINE.match(line) for line in lines[first_bad + 1 :]):
        return raw, 0
    kept = [line for line, ok in zip(lines, good, strict=True) if ok]
    return b"".join(kept) + raw[end:], len(lines) - len(kept)


def _is_auto_submitted(values, present):
    """RFC 3834 Auto-Submitted, bulk Precedence, or the de-facto autoreply headers."""
    auto = (values.get("auto-submitted") or "").strip().lower()
    precedence = (values.get("precedence") or "").strip().lower()
    return bool(
        (auto and auto != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or "x-autoreply" in present
        or "x-autorespond" in present
    )


def parse_message(raw, max_attachment_size=25 * MB, max_body_size=MAX_BODY_SIZE):
    """Parse raw message bytes into a ``ParsedMessage``; never raise for bad MIME.

    :param bytes raw: the message as fetched
    :param int max_attachment_size: bytes; larger attachments are listed with
        ``truncated=True`` and no content, and a note is added to the body (0: no cap)
    :param int max_body_size: characters of text and of HTML body kept; a longer
        body is cut, noted in the body and attached whole as a file (0: no cap)
    :raise MessageParseError: when ``raw`` is not bytes, is empty, or holds no header
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MessageParseError(f"the message is not bytes but {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise MessageParseError("the message is empty")
    warnings = []
    # Some servers and exports put blank lines first; they would end the headers.
    data = raw.lstrip(b"\r\n")
    try:
        msg, flattened = _parse_bytes(data)
        if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
            repaired, dropped = _repair_headers(data)
            if dropped:
                msg, flattened = _parse_bytes(repaired)
                warnings.append(f"{dropped} malformed header line(s) ignored")
        if flattened:
            warnings.append(
                f"MIME structure nested more than {MAX_MIME_DEPTH} levels deep; "
                "the deeper parts were kept unparsed"
            )
    except Exception as exc:
        raise MessageParseError(f"unparseable message: {exc}") from exc
    headers = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), []).append(value)
    if not KNOWN_HEADERS.intersection(headers):
        raise MessageParseError("no email headers found in the message")

    def first(name):
        values = headers.get(name)
        return values[0] if values else None

    def text(name):
        what = f"the {_HEADER_TITLES.get(name) or name.title()} header"
        return decode_header_value(first(name), warnings, what)

    result = ParsedMessage(size=len(raw), warnings=warnings)
    result.message_id = _message_id(text("message-id"))
    result.in_reply_to = _message_id(text("in-reply-to"))
    result.references = _references(text("references"))
    result.subject = text("subject")
    result.email_from, from_addresses = _address_header(
        headers.get("from"), warnings, "the From header"
    )
    result.from_address = from_addresses[0] if from_addresses else ""
    if not result.from_address:
        warnings.append("no sender address")
    result.email_to, result.to_addresses = _address_header(
        headers.get("to"), warnings, "the To header"
    )
    result.email_cc, cc_addresses = _address_header(headers.get("cc"), warnings, "the Cc header")
    result.cc_addresses = [addr for addr in cc_addresses if addr not in result.to_addresses]
    result.reply_to, _addresses = _address_header(
        headers.get("reply-to"), warnings, "the Reply-To header"
    )
    result.date = _parse_date(text("date"), warnings)
    for name in EXPOSED_HEADERS:
        result.headers[name] = text(name)
    result.is_auto_submitted = _is_auto_submitted(result.headers, headers)
    result.headers["_present"] = tuple(headers)

    collector = _BodyCollector(max_attachment_size, warnings, max_body_size)
    try:
        collector.walk(msg)
    except Exception as exc:  # Last resort: keep what was collected so far.
        warnings.append(f"part of the MIME structure could not be read: {exc!r}")
    result.headers["content-type"] = (
        _content_params(first("content-type"), None, "")[0] or "text/plain"
    )
    _assemble_body(result, collector)
    # The same fallback in many parts says nothing new the second time.
    result.warnings = list(dict.fromkeys(warnings))
    return result


def _assemble_body(result, collector):
    segments = collector.segments
    has_html = any(html_ is not None and html_.strip() for _text, html_ in segments)
    texts, htmls = [], []
    for text, html_ in segments:
        if text is not None and text.strip():
            texts.append(text.strip("\n"))
            if has_html and (html_ is None or not html_.strip()):
                htmls.append(text_to_html(text))
        elif html_ is not None and html_.strip():
            texts.append(html_to_text(html_))
        if html_ is not None and html_.strip():
            htmls.append(html_)
    result.body_text = "\n\n".join(text for text in texts if text)
    result.body_html = "\n".join(htmls) if has_html else text_to_html(result.body_text)
    cut = {ctype: size for ctype, size in collector.body_used.items() if size > collector.body_cap}
    if collector.body_cap and cut:
        total = max(cut.values()) / MB
        note = f"[Body cut after {collector.body_cap / MB:.1f} MB of {total:.1f} MB]"
        result.body_text = f"{result.body_text}\n\n{note}".strip()
        result.body_html += f"<p><em>{html.escape(note)}</em></p>"
    dropped = [att for att in collector.attachments if att.truncated]
    if dropped:
        listing = "; ".join(f"{att.name} ({att.size / MB:.1f} MB)" for att in dropped)
        note = f"[Attachment not stored, over the size cap: {listing}]"
        result.body_text = f"{result.body_text}\n\n{note}".strip()
        result.body_html += f"<p><em>{html.escape(note)}</em></p>"
    lowered = result.body_html.lower() if result.body_html else ""
    for attachment in collector.attachments:
        # Inline only when the HTML shows it; an unreferenced image stays a visible file.
        cid = attachment.content_id
        attachment.inline = bool(cid) and f"cid:{cid.lower()}" in lowered
    result.attachments = collector.attachments
