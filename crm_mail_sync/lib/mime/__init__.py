"""Turn raw RFC 5322 messages into plain Python values: the add-on's MIME parser.

No Odoo import: the ORM layer sanitises the HTML and stores the values. Anything
wrong with a message that can be worked around is worked around and described in
``ParsedMessage.warnings``; only input with nothing usable in it raises
``MessageParseError`` (the caller then keeps it raw in a quarantine).

The names below are the package's interface; its modules are its own business.
"""

from ..addresses import normalize_address
from .automatic import ROBOT_SENDER, auto_reply_blocker, automatic_reason
from .body import html_to_text, mark_text_quotes, text_to_html
from .charsets import decode_bytes
from .headers import decode_header_value, decoded_headers, extract_addresses, format_address
from .limits import (
    MAX_ATTACHMENT_SIZE,
    MAX_BODY_SIZE,
    MAX_HEADER_LENGTH,
    MAX_HEADERS,
    MAX_MIME_DEPTH,
    MB,
)
from .message import EXPOSED_HEADERS, MessageParseError, ParsedAttachment, ParsedMessage
from .parser import KNOWN_HEADERS, parse_message

__all__ = [
    "EXPOSED_HEADERS",
    "KNOWN_HEADERS",
    "MAX_ATTACHMENT_SIZE",
    "MAX_BODY_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_LENGTH",
    "MAX_MIME_DEPTH",
    "MB",
    "ROBOT_SENDER",
    "MessageParseError",
    "ParsedAttachment",
    "ParsedMessage",
    "auto_reply_blocker",
    "automatic_reason",
    "decode_bytes",
    "decode_header_value",
    "decoded_headers",
    "extract_addresses",
    "format_address",
    "html_to_text",
    "normalize_address",
    "parse_message",
    "mark_text_quotes",
    "text_to_html",
]
