"""Errors raised by the mail server sessions.

Messages are meant for the administrator reading the account form: they say what
went wrong and what to do, and never contain the password. What to do about each kind
of error is written once, in ``ADVICE``: the errors quote it, and the account form
shows it beside the error recorded (``advice_for``).
"""


def _lt(text):
    """Mark ``text`` for translation: Odoo's exporter extracts the ``_lt`` calls of the
    add-on's files; whoever shows the text translates it (``env._(text)``)."""
    return text


# What an administrator can do about each kind of error (``MailServerError.kind``,
# and "quarantine" for messages put aside), in English; the form shows it translated.
ADVICE = {
    "policy": _lt(
        "If it is your company's mail server, an administrator can allow it under "
        "Settings > CRM > Synced Emails > Allowed Mail Hosts."
    ),
    "oauth": _lt(
        "Click Reconnect and sign in to the provider again with this mailbox's address. "
        "If it keeps failing, an administrator checks the OAuth client id and secret "
        "under Settings."
    ),
    "auth": _lt(
        "Check the login and password. If this mailbox uses two-factor authentication, "
        "create an app password at your provider and use it here."
    ),
    "tls": _lt(
        "Check the security setting (SSL/TLS or STARTTLS) and its port, and the server "
        "name; for a self-signed certificate you trust, untick 'Verify Certificate'."
    ),
    "timeout": _lt(
        "The server answers too slowly: raise the timeout on the Sync tab, or try later."
    ),
    "connection": _lt(
        "Check the server name and port, and that Odoo's machine may reach it (firewall)."
    ),
    "folder_missing": _lt(
        "Press Test Connection to refresh the folder list, then tick the folders to sync."
    ),
    "quarantine": _lt(
        "Open the quarantine to see the messages that could not be imported and retry."
    ),
    "protocol": _lt("Press Test Connection to check the settings; the next run retries."),
}

# The words that tell the kind of an error recorded as text, tried in this order.
_KIND_WORDS = (
    ("policy", ("allowed mail hosts",)),
    ("oauth", ("reconnect", "oauth", "consent")),
    ("auth", ("password", "login", "authenticat")),
    ("tls", ("tls", "ssl", "certificate")),
    ("timeout", ("timed out", "timeout", "did not answer")),
    ("connection", ("refused", "resolve", "unreachable", "connect")),
    ("folder_missing", ("folder",)),
    ("quarantine", ("quarantine",)),
)


def kind_of(message):
    """The kind of error a recorded error ``message`` is (as ``MailServerError.kind``)."""
    text = (message or "").lower()
    for kind, words in _KIND_WORDS:
        if any(word in text for word in words):
            return kind
    return "protocol"


def advice_for(message):
    """What to do about the error recorded as ``message`` (English, see ``ADVICE``)."""
    return ADVICE[kind_of(message)]


class MailServerError(Exception):
    """Base class; ``kind`` tells what failed."""

    kind = "protocol"


class ConnectionFailed(MailServerError):
    kind = "connection"


class AddressRefused(MailServerError):
    """Every address of the server is on a network the account may not reach.

    Raised before any connection is attempted. The message names the host and port
    the user typed, never the addresses they resolved to.
    """

    kind = "policy"

    @classmethod
    def for_server(cls, host, port):
        return cls(f"{host}:{port} is on a private or local network. {ADVICE['policy']}")


class TlsFailed(MailServerError):
    kind = "tls"


class AuthenticationFailed(MailServerError):
    kind = "auth"

    HINT = ADVICE["auth"]

    def __init__(self, detail=""):
        message = "The server refused the login and password."
        if detail:
            message += f" (server said: {detail})"
        super().__init__(f"{message} {self.HINT}")


class OAuthFailed(AuthenticationFailed):
    """An OAuth2 (XOAUTH2) login failed: no usable token, or the provider or the mail
    server refused it. The message is given whole; it never quotes a token."""

    kind = "oauth"

    def __init__(self, message):  # pylint: disable=super-init-not-called
        MailServerError.__init__(self, message)


class ServerTimeout(MailServerError):
    kind = "timeout"


class ProtocolError(MailServerError):
    kind = "protocol"


class FolderMissing(MailServerError):
    kind = "folder_missing"


class FlagsRefused(MailServerError):
    """The server refused to change a message's flags (a read-only folder or mailbox)."""
