"""Raw message bytes to a ``ParsedMessage``: robustly, and fast.

Speed: ``email.policy.compat32`` is used on purpose, it is several times faster than
``policy.default``, whose header registry parses every header into objects. The
parser is Python's own, bounded in depth, and header lines that are not headers are
dropped before they can end the header block early; it matches multipart boundaries
without compiling a regular expression for each one, and reads a part's body in one
piece instead of line by line (``feedinput``).
"""

import importlib.util
import re
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from email.policy import compat32

from .automatic import automatic_reason
from .body import _assemble_body
from .feedinput import BoundaryMatcher as _BoundaryMatcher
from .feedinput import FinalLineBreak, TextInput
from .headers import (
    _address_header,
    _content_params,
    _message_id,
    _parse_date,
    _references,
    decode_header_value,
)
from .limits import MAX_ATTACHMENT_SIZE, MAX_BODY_SIZE, MAX_MIME_DEPTH
from .message import EXPOSED_HEADERS, MessageParseError, ParsedMessage
from .parts import _BodyCollector

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
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_KNOWN_HEADER_LINE = re.compile(
    rb"(?i)(%s)[ \t]*:" % b"|".join(re.escape(name.encode()) for name in sorted(KNOWN_HEADERS))
)
_HEADER_TITLES = {"message-id": "Message-ID", "list-id": "List-ID", "x-loop": "X-Loop"}


_BOUNDARY_PREFIX = "(?P<sep>"
_BOUNDARY_SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_UNESCAPE = re.compile(r"\\(.)", re.S)
# Python's own line-by-line input instead of ``TextInput``: what tests compare with.
LINE_BY_LINE = False


class _FeedParserRe:
    """The ``re`` the private copy of ``email.feedparser`` sees: the real one, except
    that its boundary patterns become ``_BoundaryMatcher``s."""

    def __getattr__(self, name):
        return getattr(re, name)

    @staticmethod
    def compile(pattern, flags=0):
        if (
            not flags
            and isinstance(pattern, str)
            and pattern.startswith(_BOUNDARY_PREFIX)
            and pattern.endswith(_BOUNDARY_SUFFIX)
        ):
            escaped = pattern[len(_BOUNDARY_PREFIX) : -len(_BOUNDARY_SUFFIX)]
            # re.escape only puts a backslash before characters: undone exactly.
            return _BoundaryMatcher(_UNESCAPE.sub(r"\1", escaped))
        return re.compile(pattern, flags)


def _private_feedparser():
    """A copy of ``email.feedparser`` of our own, with ``_FeedParserRe`` as its ``re``
    and ``FinalLineBreak`` as its ``NLCRE_eol``: Odoo's and everyone else's parsing
    keep the standard module untouched."""
    spec = importlib.util.find_spec("email.feedparser")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.re = _FeedParserRe()
    module.NLCRE_eol = FinalLineBreak()
    return module


_feedparser = _private_feedparser()
FeedParser = _feedparser.FeedParser


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
        if not LINE_BY_LINE:
            self._input = TextInput(_feedparser.NeedMoreData)
        self.flattened = 0

    def _new_message(self):  # pylint: disable=missing-return
        # Python's email parser, not an Odoo method: it returns nothing.
        # A part starts: its headers are read line by line.
        self._input.in_one_piece = False
        super()._new_message()

    def _parse_headers(self, lines):  # pylint: disable=missing-return
        # Python's email parser, not an Odoo method: it returns nothing.
        # The part's headers are read: until the next part starts, the parser iterates
        # over its input only to concatenate the lines (a body, an epilogue).
        self._input.in_one_piece = True
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


def parse_message(raw, max_attachment_size=MAX_ATTACHMENT_SIZE, max_body_size=MAX_BODY_SIZE):
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
    # Not raw.strip(): that copies the whole message to find out.
    if not raw or raw.isspace():
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
    result.header_items = list(msg.raw_items())
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
    result.headers["_present"] = tuple(headers)
    result.is_auto_submitted = automatic_reason(result, submitted_only=True) is not None

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
