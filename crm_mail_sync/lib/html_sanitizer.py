# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Odoo's HTML sanitizer, faster on large mail, with the same output.

``html_sanitize`` returns what ``odoo.tools.mail.html_sanitize`` returns for the same
arguments, string for string. It runs the same steps with the same lxml ``Cleaner``
(every security pass of it unchanged) and saves only work that cannot change the
result:

* quote detection (``tag_quote``) is skipped when the document holds nothing it could
  mark; otherwise its patterns are compiled once, and tried only on texts that hold
  what they need to match ("\\n>" or "--");
* the style whitelist (``_Cleaner.parse_style``) and the cleaner's checks of a style
  (``_has_sneaky_javascript``) and of a link (``_remove_javascript_link``), each a
  function of one string, run once per distinct string: newsletters repeat the same
  styles hundreds of times;
* the element objects lxml makes for the parsed tree are kept until the end, so that
  the cleaner's many walks over the tree reuse them instead of making each anew (a
  Python class lookup per element and walk).

The cleaner's own passes (tags, attributes, javascript: links, styles, forms,
conditional comments) run unchanged; the largest share of the remaining time is its
link pass (``rewrite_links``).

Unlike the rest of ``lib``, this module imports Odoo: it mirrors ``odoo.tools.mail``
and uses its definitions (the tag and attribute whitelists, ``_Cleaner``). When the
Odoo code it mirrors is not the code it was written against (an Odoo update), or the
input is not a plain ``str``, it leaves the work to Odoo's function; so does any error
on the way, so that Odoo's own error handling (its logged warning and placeholder
body) applies.
"""

import hashlib
import inspect
import logging
import re

import markupsafe
from lxml import etree, html

from odoo.tools import mail as odoo_mail

_logger = logging.getLogger(__name__)

# The function this module mirrors, as Odoo's fields call it.
odoo_html_sanitize = odoo_mail.html_sanitize

# sha256 of the source of the Odoo 18 code mirrored here; any other source turns the
# fast path off (checked once, at import).
_MIRRORED_SOURCES = {
    "html_sanitize": "5be0d81f93df5d5be6ffcace822ddbc7bc77c99d5a23426a57a56d0df6ba674f",
    "html_normalize": "42cd3291262cb4bc893321e83dc743e0a47c5a86f3ffd33752ac22d5633f04ba",
    "tag_quote": "44985e1de72930803c559abd050f055062a834c0e78d05db610debd51c10316b",
    "_Cleaner": "0e2ddf93f5b6b3e06cdd7747ae853f9dac51fc5f2c05abf290ce2214209601ab",
}


def _mirrors_odoo():
    for name, digest in _MIRRORED_SOURCES.items():
        try:
            source = inspect.getsource(getattr(odoo_mail, name))
        except (AttributeError, OSError, TypeError):
            source = None
        if source is None or hashlib.sha256(source.encode()).hexdigest() != digest:
            _logger.warning(
                "odoo.tools.mail.%s is not the code crm_mail_sync's fast HTML sanitizer "
                "mirrors: HTML bodies are sanitised by Odoo's slower function",
                name,
            )
            return False
    return True


FAST_PATH = _mirrors_odoo()

# ----------------------------------------------------------------------
# Quote detection (odoo.tools.mail.tag_quote)
# ----------------------------------------------------------------------

_SIGNATURE_BEGIN = re.compile(r"((?:(?:^|\n)[-]{2}[\s]?$))")
_TEXT_COMPLETE = re.compile(r"((?:\n[>]+[^\n\r]*)+|(?:(?:^|\n)[-]{2}[\s]?[\r\n]{1,2}[\s\S]+))")


def _may_quote(doc):
    """False when ``tag_quote`` would change nothing below ``doc``.

    tag_quote changes an element only for its class or id, a blockquote tag, a marked
    parent, or a text that one of its two patterns matches (both need "\\n>" or "--").
    With none of these in the document no element gets marked, so none has a marked
    parent either.
    """
    if next(doc.iter("blockquote"), None) is not None:
        return True
    for el in doc.iter(etree.Element):
        text = el.text
        if (
            text
            and ("\n>" in text or "--" in text)
            and (_TEXT_COMPLETE.search(text) or _SIGNATURE_BEGIN.search(text))
        ):
            return True
        get = el.get
        el_class = get("class")
        if el_class and (
            "gmail_extra" in el_class
            or "SkyDrivePlaceholder" in el_class
            or "yahoo_quoted" in el_class
            or "stopSpelling" in el_class
        ):
            return True
        el_id = get("id")
        if el_id and ("divRplyFwdMsg" in el_id or "stopSpelling" in el_id):
            return True
        if get("data-o-mail-quote") or get("data-o-mail-quote-container"):
            return True
    return False


def _tag_matching_regex_in_text(regex, node, tag="span", attrs=None):
    # Mirrors tag_quote's inner function of the same name, called with _TEXT_COMPLETE
    # only: a pattern that cannot match without "\n>" or "--" in the text.
    text = node.text or ""
    if ("\n>" not in text and "--" not in text) or not regex.search(text):
        return

    child_node = None
    idx, node_idx = 0, 0
    for item in regex.finditer(text):
        new_node = etree.Element(tag)
        new_node.text = text[item.start() : item.end()]
        new_node.tail = None
        if attrs:
            for key, val in attrs.items():
                new_node.set(key, val)
        if child_node is None:
            node.text = text[idx : item.start()]
            new_node.tail = text[item.end() :]
            node.insert(node_idx, new_node)
        else:
            child_node.tail = text[idx : item.start()]
            new_node.tail = text[item.end() :]
            node.insert(node_idx, new_node)
        child_node = new_node
        idx = item.end()
        node_idx = node_idx + 1


def tag_quote(el):
    """Mark ``el`` as odoo.tools.mail.tag_quote does (its patterns compiled once)."""
    el_class = el.get("class", "") or ""
    el_id = el.get("id", "") or ""

    if (
        "gmail_extra" in el_class
        or "divRplyFwdMsg" in el_id
        or ("SkyDrivePlaceholder" in el_class or "SkyDrivePlaceholder" in el_class)
    ):
        el.set("data-o-mail-quote", "1")
        if el.getparent() is not None:
            el.getparent().set("data-o-mail-quote-container", "1")

    if (
        el.tag == "hr" and ("stopSpelling" in el_class or "stopSpelling" in el_id)
    ) or "yahoo_quoted" in el_class:
        el.set("data-o-mail-quote", "1")
        for sibling in el.itersiblings(preceding=False):
            sibling.set("data-o-mail-quote", "1")

    if (
        el.text
        and "--" in el.text
        and el.find("br") is not None
        and _SIGNATURE_BEGIN.search(el.text)
    ):
        el.set("data-o-mail-quote", "1")
        if el.getparent() is not None:
            el.getparent().set("data-o-mail-quote-container", "1")

    if not el.get("data-o-mail-quote"):
        _tag_matching_regex_in_text(_TEXT_COMPLETE, el, "span", {"data-o-mail-quote": "1"})

    if el.tag == "blockquote":
        el.set("data-o-mail-quote-node", "1")
        el.set("data-o-mail-quote", "1")
    parent = el.getparent()
    if (
        parent is not None
        and (parent.get("data-o-mail-quote") or parent.get("data-o-mail-quote-container"))
        and not parent.get("data-o-mail-quote-node")
    ):
        el.set("data-o-mail-quote", "1")


# ----------------------------------------------------------------------
# Cleaning (odoo.tools.mail._Cleaner)
# ----------------------------------------------------------------------


class _Cleaner(odoo_mail._Cleaner):
    """Odoo's cleaner, with its per-style-string work done once per distinct string."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._styles = {}
        self._sneaky = {}
        self._links = {}

    def __call__(self, doc):  # pylint: disable=missing-return
        # lxml's Cleaner, not an Odoo method: it cleans in place and returns nothing.
        # Mirrors odoo.tools.mail._Cleaner.__call__, with parse_style inlined.
        super(odoo_mail._Cleaner, self).__call__(doc)

        if not getattr(self, "safe_attrs_only", False) and self.strip_classes:
            for el in doc.iter(tag=etree.Element):
                self.strip_class(el)

        if not self.style and self.sanitize_style:
            styles = self._styles
            for el in doc.iter(tag=etree.Element):
                styling = el.get("style")
                if not styling:
                    continue
                sanitized = styles.get(styling, _MISSING)
                if sanitized is _MISSING:
                    sanitized = styles[styling] = self._sanitized_style(styling)
                if sanitized is None:
                    del el.attrib["style"]
                elif sanitized != styling:  # (setting the same value changes nothing)
                    el.set("style", sanitized)

    def _sanitized_style(self, styling):
        """The style attribute Odoo's ``parse_style`` leaves of ``styling`` (None: none)."""
        # Odoo's own function, on a stand-in element carrying this style only.
        probe = etree.Element("span", style=styling)
        super().parse_style(probe)
        return probe.get("style")

    # lxml's two checks below are functions of their argument alone.

    def _has_sneaky_javascript(self, style):
        sneaky = self._sneaky.get(style, _MISSING)
        if sneaky is _MISSING:
            sneaky = self._sneaky[style] = super()._has_sneaky_javascript(style)
        return sneaky

    def _remove_javascript_link(self, link):
        kept = self._links.get(link, _MISSING)
        if kept is _MISSING:
            kept = self._links[link] = super()._remove_javascript_link(link)
        return kept


_MISSING = object()


# ----------------------------------------------------------------------
# html_normalize and html_sanitize
# ----------------------------------------------------------------------

_ENCODING_ATTRIBUTE = re.compile(
    r'(<[^>]*\s)(encoding=(["\'][^"\']*?["\']|[^\s\n\r>]+)(\s[^>]*|/)?>)',
    re.IGNORECASE | re.DOTALL,
)
_EMPTY_COMMENT = re.compile(r"(<!-->|<!--->)")
_OFFICE_TAG = re.compile(r"</?o:.*?>")


def html_normalize(src, filter_callback=None, output_method="html"):
    """Mirror of odoo.tools.mail.html_normalize (see the module's docstring)."""
    if not src:
        return src

    # Under IGNORECASE "encoding=" matches only ASCII case variants of "encod" (then
    # "i" also matches U+0130 and U+0131): without "encod" in the lowercased text the
    # pattern cannot match, and its backtracking scan of every tag is skipped.
    if "encod" in src.lower():
        src = _ENCODING_ATTRIBUTE.sub("", src)

    src = src.replace("--!>", "-->")
    src = _EMPTY_COMMENT.sub("<!-- -->", src)
    src = _OFFICE_TAG.sub("", src)

    try:
        doc = html.fromstring(src)
    except etree.ParserError as e:
        if "empty" in str(e):
            return ""
        raise

    # Held until the end: lxml then hands every later walk of the tree the same
    # element objects instead of making (and class-looking-up) new ones each time.
    nodes = list(doc.iter())

    if doc is not None and _may_quote(doc):
        for el in doc.iter(tag=etree.Element):
            tag_quote(el)

    if filter_callback:
        doc = filter_callback(doc)

    src = html.tostring(doc, encoding="unicode", method=output_method)
    del nodes

    if src.startswith("<div>") and src.endswith("</div>"):
        src = src[5:-6]

    src = src.replace("\xa0", "&nbsp;")

    return src


def _sanitize(
    src,
    sanitize_tags=True,
    sanitize_attributes=False,
    sanitize_style=False,
    sanitize_form=True,
    sanitize_conditional_comments=True,
    strip_style=False,
    strip_classes=False,
    output_method="html",
):
    # Mirrors odoo.tools.mail.html_sanitize's sanitize_handler and its call; raises
    # where Odoo's function would catch.
    def sanitize_handler(doc):
        kwargs = {
            "page_structure": True,
            "style": strip_style,
            "sanitize_style": sanitize_style,
            "forms": sanitize_form,
            "remove_unknown_tags": False,
            "comments": False,
            "conditional_comments": sanitize_conditional_comments,
            "processing_instructions": False,
        }
        if sanitize_tags:
            kwargs.update(odoo_mail.SANITIZE_TAGS)

        if sanitize_attributes:
            if strip_classes:
                current_safe_attrs = odoo_mail.safe_attrs - frozenset(["class"])
            else:
                current_safe_attrs = odoo_mail.safe_attrs
            kwargs.update(
                {
                    "safe_attrs_only": True,
                    "safe_attrs": current_safe_attrs,
                }
            )
        else:
            kwargs.update(
                {
                    "safe_attrs_only": False,
                    "strip_classes": strip_classes,
                }
            )

        cleaner = _Cleaner(**kwargs)
        cleaner(doc)
        return doc

    return markupsafe.Markup(
        html_normalize(src, filter_callback=sanitize_handler, output_method=output_method)
    )


def html_sanitize(
    src,
    silent=True,
    sanitize_tags=True,
    sanitize_attributes=False,
    sanitize_style=False,
    sanitize_form=True,
    sanitize_conditional_comments=True,
    strip_style=False,
    strip_classes=False,
    output_method="html",
):
    """Return ``odoo.tools.mail.html_sanitize(src, ...)`` for the same arguments, faster.

    Same signature, defaults and result (a ``Markup``, or ``src`` itself when empty).
    Input other than a plain ``str``, and any error, go to Odoo's function, which
    then logs and answers (or raises, when not ``silent``) as it always does.
    """
    options = {
        "sanitize_tags": sanitize_tags,
        "sanitize_attributes": sanitize_attributes,
        "sanitize_style": sanitize_style,
        "sanitize_form": sanitize_form,
        "sanitize_conditional_comments": sanitize_conditional_comments,
        "strip_style": strip_style,
        "strip_classes": strip_classes,
        "output_method": output_method,
    }
    if not src:
        return src
    if FAST_PATH and type(src) is str:
        try:
            return _sanitize(src, **options)
        except Exception:
            # Odoo's function meets the same error and handles it its own way.
            _logger.debug("fast HTML sanitizer failed; using Odoo's", exc_info=True)
    return odoo_html_sanitize(src, silent=silent, **options)
