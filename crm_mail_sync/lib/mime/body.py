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


# Characters an XML document cannot hold: Odoo's sanitizer drops them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Web addresses in plain text, ASCII only (what a mail client shows as a link); a
# trailing full stop, comma or closing bracket is the sentence's, not the address's.
# Without "$", "[" and "]", which the sanitizer would percent-encode in the link.
_URL = re.compile(r"\bhttps?://[A-Za-z0-9\-._~:/?#@!&()*+,;=%]+")
_URL_TRAILING = ".,;:!?)"


def escape_text(text):
    """Escape ``text`` for an HTML text node exactly as Odoo's sanitizer writes it back
    (``&amp; &lt; &gt; &nbsp;``, quotes as they are, XML-invalid characters dropped), so
    that HTML built from it is already in the sanitizer's output form."""
    return (
        _XML_INVALID.sub("", text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\xa0", "&nbsp;")
    )


def _linkify(paragraph):
    """Escape a paragraph of plain text, its web addresses made links."""
    out = []
    position = 0
    for match in _URL.finditer(paragraph):
        url = match.group(0)
        end = match.end()
        while url and url[-1] in _URL_TRAILING:
            # A closing bracket stays when it closes one of the address's own.
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
            end -= 1
        if url.endswith("://"):
            continue
        href = escape_text(url)
        out.append(escape_text(paragraph[position : match.start()]))
        out.append(f'<a href="{href}" target="_blank" rel="noreferrer noopener">{href}</a>')
        position = end
    out.append(escape_text(paragraph[position:]))
    return "".join(out)


def text_to_html(body_text):
    """Return a simple, safe HTML version of a plain-text body: escaped paragraphs,
    web addresses as links.

    The result is what Odoo's sanitizer would make of it, character for character
    (``tests/test_plain_text_body.py``): a plain-text body needs no sanitising.
    """
    # No NUL: PostgreSQL text cannot hold one (the import drops them too). A lone
    # carriage return ends a line, as the HTML parser reads it (it would otherwise
    # bring a line break into the text that quote detection sees).
    text = body_text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join("<p>{}</p>".format(_linkify(p).replace("\n", "<br>")) for p in paragraphs)


# Odoo's quote detection (``odoo.tools.mail.tag_quote``) as it applies to the
# paragraphs ``text_to_html`` writes: the text before a paragraph's first tag is all
# its regexes see, and only the signature one ("--" alone on a line, then a <br>)
# can match there, as no newline is left in it.
_SIGNATURE_START = re.compile(r"((?:(?:^|\n)[-]{2}[\s]?$))")
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_INNER_TAG = re.compile(r"<(br|a|em)\b([^>]*)>")


def mark_text_quotes(body_html):
    """Return ``body_html``, paragraphs as ``text_to_html`` writes them, marked as
    Odoo's sanitizer marks quotes and signatures (``data-o-mail-quote``, which the
    chatter folds), or None when the HTML is not in that form.

    A paragraph opening with a "--" line starts the signature: it, its elements and
    every paragraph after it are marked, with the options of the email's body field
    (attributes sanitised); ``tests/test_plain_text_body.py`` holds this to it.
    """
    paragraphs = _PARAGRAPH.findall(body_html or "")
    if "".join(f"<p>{inner}</p>" for inner in paragraphs) != (body_html or ""):
        return None
    start = next((i for i, inner in enumerate(paragraphs) if _opens_signature(inner)), None)
    if start is None:
        return body_html
    marked = [f"<p>{inner}</p>" for inner in paragraphs[:start]] + [
        '<p data-o-mail-quote="1">'
        + _INNER_TAG.sub(r'<\1\2 data-o-mail-quote="1">', inner)
        + "</p>"
        for inner in paragraphs[start:]
    ]
    # Their parent's data-o-mail-quote-container is not among the attributes the body
    # field keeps (it sanitises attributes): it only marked the later paragraphs.
    return "".join(marked)


def _opens_signature(inner):
    if "<br>" not in inner:
        return False
    head = html.unescape(inner.split("<", 1)[0])
    return _SIGNATURE_START.search(head) is not None


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
    # Built here from text only: already in the sanitizer's form (see text_to_html).
    result.body_html_is_safe = not has_html
    cut = {ctype: size for ctype, size in collector.body_used.items() if size > collector.body_cap}
    if collector.body_cap and cut:
        total = max(cut.values()) / MB
        note = f"[Body cut after {collector.body_cap / MB:.1f} MB of {total:.1f} MB]"
        result.body_text = f"{result.body_text}\n\n{note}".strip()
        result.body_html += f"<p><em>{escape_text(note)}</em></p>"
    dropped = [att for att in collector.attachments if att.truncated]
    if dropped:
        listing = "; ".join(f"{att.name} ({att.size / MB:.1f} MB)" for att in dropped)
        note = f"[Attachment not stored, over the size cap: {listing}]"
        result.body_text = f"{result.body_text}\n\n{note}".strip()
        result.body_html += f"<p><em>{escape_text(note)}</em></p>"
    lowered = result.body_html.lower() if result.body_html else ""
    for attachment in collector.attachments:
        # Inline only when the HTML shows it; an unreferenced image stays a visible file.
        cid = attachment.content_id
        attachment.inline = bool(cid) and f"cid:{cid.lower()}" in lowered
    result.attachments = collector.attachments
