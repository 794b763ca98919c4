"""Header values: RFC 2047 words, folding and raw 8-bit bytes decoded, and the
structured headers read (addresses, Message-ID, References, Date, Content-Type and
Content-Disposition parameters).

Headers are read raw (``Message.raw_items``, ``email.policy.compat32``) and decoded
here, with charset fallbacks that never raise: ``policy.default`` would parse every
header into objects, several times slower.
"""

import binascii
import re
from datetime import timezone
from email.utils import getaddresses, parsedate_to_datetime
from itertools import islice
from urllib.parse import unquote_to_bytes

from ..addresses import normalize_address
from .charsets import decode_bytes
from .limits import MAX_HEADER_LENGTH, MAX_HEADERS
from .transfer import _B64_NOT_ALPHABET

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


def decoded_headers(items):
    """Return the ``(name, value)`` pairs of raw header items, in order, decoded.

    Names are kept as written, values decoded like ``decode_header_value``. At most
    ``MAX_HEADERS`` pairs, each value read from its first ``MAX_HEADER_LENGTH``
    characters. No warnings: the headers that matter are read, with warnings, by the
    parser itself, and a header nobody looks at should not make a message suspect.

    :param items: ``(name, raw value)`` pairs, as ``Message.raw_items()`` gives them
    :rtype: list[tuple[str, str]]
    """
    return [
        (name, decode_header_value(str(value)[:MAX_HEADER_LENGTH]))
        for name, value in islice(items, MAX_HEADERS)
    ]


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
