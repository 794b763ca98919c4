"""Errors raised by the mail server sessions.

Messages are meant for the administrator reading the account form: they say what
went wrong and what to do, and never contain the password.
"""


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
        return cls(
            f"{host}:{port} is on a private or local network; an administrator must allow "
            "it under Settings > CRM > Synced Emails > Allowed Mail Hosts."
        )


class TlsFailed(MailServerError):
    kind = "tls"


class AuthenticationFailed(MailServerError):
    kind = "auth"

    HINT = (
        "If this mailbox uses two-factor authentication, create an app password at "
        "your provider and use it here."
    )

    def __init__(self, detail=""):
        message = "The server refused the login and password."
        if detail:
            message += f" (server said: {detail})"
        super().__init__(f"{message} {self.HINT}")


class ServerTimeout(MailServerError):
    kind = "timeout"


class ProtocolError(MailServerError):
    kind = "protocol"


class FolderMissing(MailServerError):
    kind = "folder_missing"
