"""When not to answer an email automatically (RFC 3834 and common practice)."""

import re

ROBOT_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|daemon)([+.\-_@]|$)", re.I
)


def auto_reply_blocker(parsed):
    """Return why ``parsed`` (a ParsedMessage) must not get an auto-reply, or ''.

    Auto-Submitted other than "no", Precedence bulk/list/junk, mailing-list headers,
    X-Auto-Response-Suppress, an empty Return-Path (a bounce), X-Loop, delivery status
    reports, and robot senders (mailer-daemon, postmaster, no-reply...).
    """
    headers = parsed.headers
    auto = (headers.get("auto-submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (headers.get("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
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
    return ""
