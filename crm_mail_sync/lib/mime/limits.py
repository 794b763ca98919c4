"""How much of a message is read and kept: the parser's size and depth limits.

Real mail stays far below all of them; they exist so that a hostile message costs
no more time and memory than an ordinary large one.
"""

MB = 1024 * 1024
# Body text or HTML kept per message, in characters. The rest goes to an attachment:
# Odoo's sanitizer needs about a second per MB of HTML, and nobody reads further.
MAX_BODY_SIZE = 2 * MB
# Default attachment cap of ``parse_message``, in bytes; accounts set their own.
MAX_ATTACHMENT_SIZE = 25 * MB
# MIME nesting (multipart and message/* parts) that is parsed. Real mail stays far
# below; deeper parts are kept as unparsed text, so that a message nested thousands
# of levels deep cannot exhaust the stack of the parser or of the .eml generator.
MAX_MIME_DEPTH = 40
# Headers kept in ``ParsedMessage.all_headers``, and characters read of each value.
# Real mail has a few dozen headers of at most a few kilobytes; the cut only keeps a
# message of a million headers, or of one megabyte-long header, as cheap as others.
MAX_HEADERS = 500
MAX_HEADER_LENGTH = 16 * 1024
