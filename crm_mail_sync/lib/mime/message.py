"""What parsing a message gives: plain Python values, no Odoo import.

Anything wrong with a message that can be worked around is worked around and
described in ``ParsedMessage.warnings``; only input with nothing usable in it raises
``MessageParseError`` (the caller then keeps it raw in a quarantine).
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from ..addresses import address_list
from .headers import decoded_headers

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
    # body_html was built from plain text by ``body.text_to_html``: already in the form
    # Odoo's sanitizer gives, so it is stored without sanitising it again.
    body_html_is_safe: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size: int = 0
    # Sent by a program, so no case opens for it: ``automatic_reason(submitted_only=True)``.
    is_auto_submitted: bool = False
    headers: dict = field(default_factory=dict)
    # The top-level message's raw header items, for ``all_headers``.
    header_items: list = field(default_factory=list, repr=False)

    @cached_property
    def all_headers(self):
        """Every header of the top-level message, in order, for steps and modules that
        need one not read above: names as written, values decoded (bounds:
        ``decoded_headers``). Decoded on first use: the import itself needs none."""
        return decoded_headers(self.header_items)

    @property
    def recipients(self):
        """The normalised addresses of To and Cc."""
        return self.to_addresses + self.cc_addresses

    @property
    def addresses(self):
        """The normalised addresses of From, To and Cc, sender first."""
        return address_list(self.from_address, self.recipients)
