# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Conversations (threads) of emails, without the ORM.

The rule, as mail clients apply it:

1. **References first**: a message answering another (In-Reply-To, References) is of
   its conversation, and so is a message that an earlier one answers (a parent
   arriving after its reply merges the two conversations).
2. **Then the subject**, for clients that drop the references: a message whose
   subject says it is a reply or a forward ("Re:", "AW:", "Fwd:", "[tag] Re:" ...)
   joins a conversation of the same normalised subject when one of its messages is
   at most ``SUBJECT_WINDOW`` apart and the two messages are between the same people
   (the sender of each is among the addresses of the other). Two customers writing
   "Invoice" to the same mailbox stay apart; so do two messages without a reply
   prefix.

Also here: the disjoint set the import merges conversations with, and the folding
of quoted history in a rendered body (``fold_quotes``).
"""

import re
from datetime import timedelta

from lxml import etree, html

# How far apart a reply without references and its conversation may be.
SUBJECT_WINDOW = timedelta(days=7)

# Reply and forward prefixes of the common mail clients, in several languages:
# Re (en, fr, de...), Fwd/Fw, AW/WG (de), SV/VS (nordic), TR (fr), RV/ENC/RES (es, pt),
# Antw/Doorst (nl), Odp/Pd (pl), Ynt/İlt (tr), Vá (hu), Ref; optionally counted
# ("Re[2]:", "Re(2):", "RE^2:"), "Re :" with the French space, the full-width colon.
_PREFIX_WORDS = (
    "re",
    "fwd",
    "fw",
    "aw",
    "wg",
    "sv",
    "vs",
    "tr",
    "rv",
    "enc",
    "res",
    "antw",
    "doorst",
    "odp",
    "pd",
    "ynt",
    "ilt",
    "vá",
    "ref",
    "r",
)
_PREFIX = re.compile(
    r"^(?:%s)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:\uff1a]\s*" % "|".join(_PREFIX_WORDS),
    re.IGNORECASE,
)
# A list's or a ticket system's tag: "[support] ", "[EXT] ".
_TAG = re.compile(r"^\[[^\]]{0,80}\]\s*")
_SPACES = re.compile(r"\s+")


def normalize_subject(subject):
    """The subject a conversation is known by, and whether ``subject`` says it is a
    reply or a forward.

    >>> normalize_subject("AW: [Support] Re: Your  Order")
    ('your order', True)

    :return: ``(key, is_reply)``; key is ``""`` for a subject without words
    """
    text = _SPACES.sub(" ", subject or "").strip()
    is_reply = False
    while True:
        stripped = _TAG.sub("", text, count=1)
        match = _PREFIX.match(stripped)
        if match:
            is_reply = True
            stripped = stripped[match.end() :]
        if stripped == text:
            break
        text = stripped.strip()
    return text.casefold(), is_reply


def thread_references(in_reply_to, references):
    """The Message-IDs a message answers: In-Reply-To, then References newest first,
    each once.

    >>> thread_references("<b>", "<a> <b>")
    ['<b>', '<a>']
    """
    refs = [in_reply_to, *reversed((references or "").split())]
    return list(dict.fromkeys(ref for ref in refs if ref))


def same_people(sender_a, addresses_a, sender_b, addresses_b):
    """Whether two messages are between the same people: each one's sender is among
    the other's addresses (From, To, Cc, in any form)."""
    return bool(sender_a and sender_b and sender_a in addresses_b and sender_b in addresses_a)


def within_window(date_a, date_b, window=SUBJECT_WINDOW):
    """Whether two message dates are at most ``window`` apart (a missing date never is)."""
    return bool(date_a and date_b) and abs(date_a - date_b) <= window


class DisjointSet:
    """Union-find over hashable nodes: the conversations a batch merges."""

    def __init__(self):
        self._parent = {}

    def add(self, node):
        self._parent.setdefault(node, node)

    def find(self, node):
        self.add(node)
        root = node
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[node] != root:
            self._parent[node], node = root, self._parent[node]
        return root

    def union(self, first, second):
        self._parent[self.find(first)] = self.find(second)

    def groups(self):
        """``{root: [nodes]}``, nodes in the order they were added."""
        result = {}
        for node in self._parent:
            result.setdefault(self.find(node), []).append(node)
        return result


def choose_root(conversation_ids):
    """The conversation that the merged ones become: the oldest (smallest id)."""
    return min(conversation_ids) if conversation_ids else None


# ----------------------------------------------------------------------
# Quoted history
# ----------------------------------------------------------------------

# The line a client writes above the text it quotes: "On Mon, ... wrote:",
# "Le ... a écrit :", "Am ... schrieb ...:", "El ... escribió:", "Op ... schreef ...:".
_ATTRIBUTION = re.compile(
    r"^\s*(?:On\s.{0,300}\swrote|Le\s.{0,300}\sa\s[ée]crit|Am\s.{0,300}\sschrieb"
    r"|El\s.{0,300}\sescribi[óo]|Op\s.{0,300}\sschreef|W\sdniu\s.{0,300}\spisze)"
    r"[^:\n]{0,100}:",
    re.IGNORECASE | re.DOTALL,
)
# Outlook's separators: "-----Original Message-----", and the header block it puts
# above the message answered ("From: ... Sent: ...", "Von: ... Gesendet: ...").
_ORIGINAL = re.compile(
    r"^\s*-{3,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine)"
)
_OUTLOOK_HEADER = re.compile(
    r"^\s*(?:From|Von|De|Od)\s*:.{0,500}?(?:Sent|Gesendet|Envoyé|Enviado|Wysłano|Date)\s*:",
    re.IGNORECASE | re.DOTALL,
)
_QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote")
_QUOTE_IDS = ("divRplyFwdMsg", "appendonsend")


def _opens_quote(element):
    """Whether ``element`` starts the quoted history of a message."""
    if not isinstance(element.tag, str):
        return False
    if element.tag == "blockquote" or element.get("data-o-mail-quote"):
        return True
    css = element.get("class") or ""
    if any(name in css for name in _QUOTE_CLASSES):
        return True
    if (element.get("id") or "") in _QUOTE_IDS:
        return True
    own = element.text or ""
    if own.lstrip().startswith(">") or _ORIGINAL.match(own) or _ATTRIBUTION.match(own):
        return True
    return element.tag in ("div", "p") and bool(_OUTLOOK_HEADER.match(element.text_content()[:600]))


def fold_quotes(body, summary):
    """Fold the quoted history of ``body`` (sanitised HTML) into a ``<details>``
    element whose ``<summary>`` reads ``summary``; return the HTML.

    The history starts at the first element that opens a quote (a blockquote, the
    markers of Gmail, Thunderbird, Outlook, Yahoo; a paragraph opening with ">", an
    "On ... wrote:" or "-----Original Message-----" line; Outlook's "From: ... Sent:"
    block); it and what follows it in its parent are folded. A body without one is
    returned unchanged.
    """
    if not body or not body.strip():
        return body or ""
    try:
        root = html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        return body
    start = next(
        (element for element in root.iter() if element is not root and _opens_quote(element)), None
    )
    if start is None:
        return body
    parent = start.getparent()
    details = etree.Element("details")
    details.set("class", "o_crm_mail_quote")
    label = etree.SubElement(details, "summary")
    label.text = summary
    position = parent.index(start)
    folded = list(parent)[position:]
    parent.insert(position, details)
    for element in folded:
        details.append(element)
    inner = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    return inner
