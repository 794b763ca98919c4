"""Turn raw RFC 5322 messages into plain Python values, robustly and fast.

No Odoo import: the ORM layer sanitises the HTML and stores the values. Anything
wrong with a message that can be worked around is worked around and described in
``ParsedMessage.warnings``; only a message with nothing usable in it raises
``MessageParseError`` (the caller then keeps it raw in a quarantine).

``email.policy.compat32`` is used on purpose: it is several times faster than
``policy.default``, whose header registry parses every header into objects.
"""

import codecs
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import Header, decode_header
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

KNOWN_HEADERS = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "content-type",
    "mime-version",
    "received",
    "return-path",
    "reply-to",
    "sender",
)
_PARSER = BytesParser(policy=compat32)
_MSGID = re.compile(r"<[^<>\s]+>")
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")
_HTML_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.I | re.S)
_HTML_BREAK = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|/table)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[^>]*>", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLANKS = re.compile(r"\n\s*\n\s*\n+")
_SPACES = re.compile(r"[ \t\xa0]+")


class MessageParseError(Exception):
    """The bytes hold nothing that can be stored as an email."""


@dataclass
class ParsedAttachment:
    name: str
    content: bytes
    mimetype: str
    content_id: str | None = None
    inline: bool = False
    size: int = 0
    truncated: bool = False


@dataclass
class ParsedMessage:
    message_id: str = ""
    in_reply_to: str = ""
    references: list = field(default_factory=list)
    subject: str = ""
    email_from: str = ""
    from_address: str = ""
    email_to: str = ""
    email_cc: str = ""
    reply_to: str = ""
    to_addresses: list = field(default_factory=list)
    cc_addresses: list = field(default_factory=list)
    date: datetime | None = None
    body_text: str = ""
    body_html: str = ""
    attachments: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    size: int = 0
    is_auto_submitted: bool = False
    headers: dict = field(default_factory=dict)


def normalize_address(addr):
    """Return ``addr`` as a comparable address: stripped, without <>, lowercase."""
    if not addr:
        return ""
    addr = addr.strip().strip("<>").strip().lower()
    local, sep, domain = addr.rpartition("@")
    if not sep or not local or not domain:
        return ""
    try:
        # Unicode domains compare in their ASCII form, as they travel on the wire.
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return f"{local}@{domain}"


def extract_addresses(header_value):
    """Return the normalised addresses found in an address header value."""
    if not header_value:
        return []
    result = []
    for _name, addr in getaddresses([header_value]):
        normalized = normalize_address(addr)
        if normalized and normalized not in result:
            result.append(normalized)
    return result


def decode_bytes(data, charset, warnings=None, what="text"):
    """Decode ``data`` declared as ``charset``, falling back sensibly.

    Tries the declared charset, then UTF-8, then Windows-1252, then Latin-1 (which
    never fails); each fallback adds a warning.
    """
    name = (charset or "").strip().strip('"').lower()
    if name in ("", "unknown-8bit", "x-unknown", "unknown", "us-ascii", "ascii"):
        name = "" if name not in ("us-ascii", "ascii") else "ascii"
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            if warnings is not None:
                warnings.append(f"unknown charset {name!r} in {what}; decoded by guessing")
            name = ""
    if name:
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            if warnings is not None and name != "ascii":
                warnings.append(
                    f"{what} declared as {name} is not valid {name}; decoded by guessing"
                )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_header_value(value, warnings=None):
    """Return a header value as one line of text, RFC 2047 words decoded."""
    if value is None:
        return ""
    try:
        parts = decode_header(value)
    except Exception:
        if warnings is not None:
            warnings.append("malformed encoded header kept as is")
        parts = [(str(value), None)]
    if isinstance(value, str) and len(parts) == 1 and isinstance(parts[0][0], str):
        text = parts[0][0]
    else:
        chunks = []
        for chunk, charset in parts:
            if isinstance(chunk, str):
                chunks.append(chunk)
            else:
                chunks.append(decode_bytes(chunk, charset, warnings, "a header"))
        text = "".join(chunks)
    return _NEWLINES.sub(" ", text).strip()


def html_to_text(body_html):
    """Return a readable plain-text version of an HTML body (no Odoo needed)."""
    text = _HTML_COMMENT.sub("", body_html)
    text = _HTML_DROP.sub("", text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.splitlines())
    return _BLANKS.sub("\n\n", text).strip()


def text_to_html(body_text):
    """Return a simple, safe HTML version of a plain-text body."""
    paragraphs = [p for p in re.split(r"\n\s*\n", body_text.strip()) if p.strip()]
    return "".join("<p>{}</p>".format(html.escape(p).replace("\n", "<br/>")) for p in paragraphs)


def _header(msg, name, warnings):
    value = msg.get(name)
    if value is None:
        return ""
    if isinstance(value, Header) or not isinstance(value, str):
        return decode_header_value(value, warnings)
    if any("\udc80" <= char <= "\udcff" for char in value):
        # Raw 8-bit bytes in a header, surrogate-escaped by the parser.
        raw = value.encode("ascii", "surrogateescape")
        value = decode_bytes(raw, None, warnings, "a header")
    return decode_header_value(value, warnings)


def _parse_date(value, warnings):
    if not value:
        warnings.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        warnings.append(f"unreadable Date header {value[:60]!r}")
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if not 1970 <= parsed.year <= 2100:
        warnings.append(f"implausible Date header {value[:60]!r}")
        return None
    return parsed


def _message_id(value):
    value = (value or "").strip()
    match = _MSGID.search(value)
    if match:
        return match.group(0)[:998]
    value = value.split()[0] if value.split() else ""
    return f"<{value.strip('<>')}>"[:998] if value.strip("<>") else ""


def _is_auto_submitted(msg):
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    precedence = (msg.get("Precedence") or "").strip().lower()
    return bool(
        (auto and auto != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or msg.get("X-Autoreply")
        or msg.get("X-Autorespond")
    )


class _BodyCollector:
    """Walks the MIME tree, collecting body text, HTML and attachments."""

    def __init__(self, max_attachment_size, warnings):
        self.cap = max_attachment_size
        self.warnings = warnings
        self.texts = []
        self.htmls = []
        self.attachments = []

    def walk(self, part, depth=0):
        if depth > 30:
            self.warnings.append("MIME structure nested too deep; inner parts ignored")
            return
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            self._nested_message(part)
            return
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                return
            if ctype == "multipart/alternative":
                self._alternative(payload, depth)
                return
            for child in payload:
                self.walk(child, depth + 1)
            return
        self._leaf(part, ctype)

    def _alternative(self, children, depth):
        # Keep one text and one HTML version: the richest of each kind.
        text_before, html_before = len(self.texts), len(self.htmls)
        for child in children:
            self.walk(child, depth + 1)
        if len(self.texts) - text_before > 1:
            del self.texts[text_before:-1]
        if len(self.htmls) - html_before > 1:
            del self.htmls[html_before:-1]

    def _leaf(self, part, ctype):
        filename = self._filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        for defect in part.defects:
            self.warnings.append(f"{ctype} part: {type(defect).__name__}")
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if data is None:
            raw = part.get_payload()
            data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = decode_bytes(data, part.get_content_charset(), self.warnings, ctype)
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            (self.htmls if ctype == "text/html" else self.texts).append(text)
            return
        content_id = (part.get("Content-ID") or "").strip().strip("<>") or None
        self._attachment(
            filename or self._default_name(ctype),
            data,
            ctype,
            content_id=content_id,
            inline=bool(content_id) and disposition != "attachment",
        )

    def _nested_message(self, part):
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None:
            data = part.get_payload(decode=True) or b""
            subject = ""
        else:
            try:
                data = inner.as_bytes()
            except Exception:
                data = str(inner).encode("utf-8", "replace")
            subject = _header(inner, "Subject", self.warnings)
        name = self._filename(part) or f"{_safe_name(subject) or 'message'}.eml"
        self._attachment(name, data, "message/rfc822")

    def _attachment(self, name, data, mimetype, content_id=None, inline=False):
        size = len(data)
        truncated = bool(self.cap) and size > self.cap
        if truncated:
            self.warnings.append(
                f"attachment {name!r} ({size / 1048576:.1f} MB) exceeds the "
                f"{self.cap / 1048576:.1f} MB cap and was not stored"
            )
        self.attachments.append(
            ParsedAttachment(
                name=name,
                content=b"" if truncated else data,
                mimetype=mimetype,
                content_id=content_id,
                inline=inline,
                size=size,
                truncated=truncated,
            )
        )

    def _filename(self, part):
        try:
            name = part.get_filename()
        except Exception:
            name = None
        if not name:
            return ""
        return _safe_name(decode_header_value(name, self.warnings))

    @staticmethod
    def _default_name(ctype):
        main, _sep, sub = ctype.partition("/")
        return f"{main or 'part'}.{sub or 'bin'}"


def _safe_name(name):
    name = (name or "").replace("/", "_").replace("\\", "_").replace("\x00", "")
    return _NEWLINES.sub(" ", name).strip()[:200]


def parse_message(raw, max_attachment_size=25 * 1024 * 1024):
    """Parse raw message bytes into a ``ParsedMessage``.

    :param bytes raw: the message as fetched
    :param int max_attachment_size: bytes; larger attachments are not kept (0: no cap)
    :raise MessageParseError: when nothing usable is in ``raw``
    """
    if not isinstance(raw, bytes | bytearray):
        raise MessageParseError("the message is not bytes")
    if not raw.strip():
        raise MessageParseError("the message is empty")
    try:
        msg = _PARSER.parsebytes(bytes(raw))
    except Exception as exc:
        raise MessageParseError(f"unparseable message: {exc}") from exc
    keys = {key.lower() for key in msg.keys()}
    if not keys.intersection(KNOWN_HEADERS):
        raise MessageParseError("no email headers found in the message")

    warnings = []
    result = ParsedMessage(size=len(raw), warnings=warnings)
    result.message_id = _message_id(msg.get("Message-ID"))
    result.in_reply_to = _message_id(msg.get("In-Reply-To"))
    result.references = _MSGID.findall(str(msg.get("References") or ""))[:100]
    result.subject = _header(msg, "Subject", warnings)
    result.email_from = _header(msg, "From", warnings)
    from_addresses = extract_addresses(result.email_from)
    result.from_address = from_addresses[0] if from_addresses else ""
    if not result.from_address:
        warnings.append("no sender address")
    result.email_to = _header(msg, "To", warnings)
    result.email_cc = _header(msg, "Cc", warnings)
    result.reply_to = _header(msg, "Reply-To", warnings)
    result.to_addresses = extract_addresses(result.email_to)
    result.cc_addresses = [
        addr for addr in extract_addresses(result.email_cc) if addr not in result.to_addresses
    ]
    result.date = _parse_date(msg.get("Date"), warnings)
    result.is_auto_submitted = _is_auto_submitted(msg)
    for name in (
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
    ):
        result.headers[name] = _header(msg, name, warnings)
    result.headers["content-type"] = msg.get_content_type()
    result.headers["_present"] = tuple(key for key in keys if key in ("return-path",))
    for defect in msg.defects:
        warnings.append(f"message: {type(defect).__name__}")

    collector = _BodyCollector(max_attachment_size, warnings)
    collector.walk(msg)
    result.body_text = "\n\n".join(t.strip("\n") for t in collector.texts if t.strip())
    result.body_html = "\n".join(h for h in collector.htmls if h.strip())
    if result.body_html and not result.body_text:
        result.body_text = html_to_text(result.body_html)
    elif result.body_text and not result.body_html:
        result.body_html = text_to_html(result.body_text)
    dropped = [att for att in collector.attachments if att.truncated]
    if dropped:
        note = "; ".join(f"{att.name} ({att.size / 1048576:.1f} MB)" for att in dropped)
        note = f"[Attachment not stored, over the size cap: {note}]"
        result.body_text = f"{result.body_text}\n\n{note}".strip()
        result.body_html += f"<p><em>{html.escape(note)}</em></p>"
    result.attachments = collector.attachments
    return result
