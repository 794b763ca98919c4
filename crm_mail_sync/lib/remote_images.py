"""Remote images in email bodies: blocked until the reader asks for them.

A remote image is a request to somebody else's server the moment the email is
opened: tracking pixels tell the sender when, where and how often. The body keeps
the image's address in ``data-crm-blocked-src`` so showing it needs no re-parsing.
"""

import re

# Sanitised HTML (Odoo's sanitizer runs first): attributes are quoted.
_IMG_SRC = re.compile(
    r"""(<img\b[^>]*?\s)src=(["'])((?:https?:)?//[^"']*)\2""", re.IGNORECASE | re.DOTALL
)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?:https?:)?//[^)]*\)""", re.IGNORECASE)
_STYLE_ATTR = re.compile(r"""(\sstyle=)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def block_remote_images(html):
    """Return ``(html, count)``: ``html`` with its remote images disabled.

    ``<img src="http...">`` becomes ``<img data-crm-blocked-src="http...">`` and a
    CSS ``url(http...)`` in a style attribute becomes ``none``. Inline (cid:, data:)
    images are untouched.
    """
    if not html:
        return html, 0
    count = 0

    def _img(match):
        nonlocal count
        count += 1
        return (
            f"{match.group(1)}data-crm-blocked-src={match.group(2)}{match.group(3)}{match.group(2)}"
        )

    def _style(match):
        nonlocal count
        value, found = _CSS_URL.subn("none", match.group(3))
        count += found
        return f"{match.group(1)}{match.group(2)}{value}{match.group(2)}"

    html = _IMG_SRC.sub(_img, html)
    html = _STYLE_ATTR.sub(_style, html)
    return html, count
