"""Message bodies: HTML to text and back, and the body assembled from the MIME parts.

Plain Python on purpose: the ORM layer sanitises the HTML when it stores it.
"""

import html
import re

from .limits import MB

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
