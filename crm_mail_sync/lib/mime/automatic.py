"""Automatic mail: whether a program sent a message, and why none should answer it.

One set of signs (RFC 3834 and common practice) serves two questions: no case opens
for a message a program sent (``ParsedMessage.is_auto_submitted``), and no auto-reply
goes to anything automatic, a mailing list, a loop, a bounce or a robot
(``auto_reply_blocker``). Both ask ``automatic_reason``.
"""

import re

ROBOT_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|daemon)([+.\-_@]|$)", re.I
)
# Precedence values of mail sent in bulk or by a program.
BULK_PRECEDENCE = ("bulk", "list", "junk", "auto_reply")


def automatic_reason(parsed, submitted_only=False):
    """Return why ``parsed`` (a ParsedMessage) is automatic mail, or None.

    :param bool submitted_only: only the signs that a program sent the message:
        Auto-Submitted other than "no", Precedence bulk/list/junk/auto_reply, an
        X-Autoreply or X-Autorespond header. Otherwise also the signs that an
        automatic answer would be wrong: mailing-list headers, X-Auto-Response-Suppress,
        X-Loop, an empty Return-Path (a bounce), a delivery status report, no sender
        address, or a robot sender (mailer-daemon, postmaster, no-reply...).
    :return: the reason, as shown to users (e.g. "Precedence: bulk"), or None
    """
    headers = parsed.headers
    auto = (headers.get("auto-submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (headers.get("precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if submitted_only:
        # Here an empty X-Autoreply counts too, as it always has for case creation;
        # the auto-reply check below has always wanted a value. Both results are kept.
        present = headers.get("_present", ())
        if "x-autoreply" in present or "x-autorespond" in present:
            return "automatic reply"
        return None
    if headers.get("list-id") or headers.get("list-unsubscribe"):
        return "mailing list"
    if headers.get("x-auto-response-suppress"):
        return "X-Auto-Response-Suppress"
    if headers.get("x-loop"):
        return "X-Loop"
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return "automatic reply"
    return_path = headers.get("return-path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        if "return-path" in headers.get("_present", ()):
            return "empty Return-Path (a bounce)"
    if (headers.get("content-type") or "").lower().startswith("multipart/report"):
        return "delivery status report"
    if not parsed.from_address:
        return "no sender address"
    if ROBOT_SENDER.match(parsed.from_address.split("@")[0] + "@"):
        return "robot sender"
    return None


def auto_reply_blocker(parsed):
    """Return why ``parsed`` (a ParsedMessage) must not get an auto-reply, or ''."""
    return automatic_reason(parsed) or ""
