"""Walking the MIME tree of a parsed message: body segments, attachments, inline
parts and forwarded messages, with their names, sizes and caps."""

import binascii
import re
from email.parser import BytesParser
from email.policy import compat32

from .charsets import decode_bytes
from .headers import _content_params, _unfold, decode_header_value
from .limits import MAX_BODY_SIZE, MAX_MIME_DEPTH, MB
from .message import ParsedAttachment
from .transfer import _decode_base64

_PARSER = BytesParser(policy=compat32)
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
        # The parser keeps deeper parts flat: this only guards trees parsed otherwise.
        if depth > MAX_MIME_DEPTH:
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
        estimate = self._base64_size(part, info, self.cap * 1.01) if self.cap else None
        if estimate is not None and estimate > self.cap * 1.01:
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
    def _base64_size(part, info, limit):
        """Estimate the decoded size of a base64 part; None when it is not base64, or
        when it cannot be over ``limit``."""
        payload = _raw_payload(part)
        if info.cte != "base64" or not isinstance(payload, str):
            return None
        # The estimate is at most this: counting characters would not change the answer.
        if len(payload) * 3 // 4 <= limit:
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
