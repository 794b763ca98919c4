"""``SmtpSink``: a real SMTP server (aiosmtpd) on loopback collecting what it receives.

Mail is accepted without authentication. With ``oauth_provider`` (an
``OAuthProvider``) the sink also offers ``AUTH XOAUTH2``, as Gmail and Outlook do: the
client sends base64 of ``user=<login>\\x01auth=Bearer <token>\\x01\\x01`` (what Odoo's
``google_gmail`` and ``microsoft_outlook`` ``_smtp_login`` send), the token is checked
against the provider in-process and must be valid for ``<login>``: 235 when it is;
otherwise, like Gmail, a 334 challenge holding a base64 JSON error, to which the
client answers with an empty line, then 535. Every received message records the
login it was sent under (``auth_login``, None without authentication).
"""

import base64
import binascii
import json
import logging
from types import SimpleNamespace

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult

from .servers import LOOPBACK, Server, free_port

_logger = logging.getLogger(__name__)

AUTH_OK = "235 2.7.0 Accepted"
AUTH_INVALID = "535 5.7.8 Username and Password not accepted"
AUTH_SYNTAX = "501 5.5.2 Cannot decode the XOAUTH2 argument"
# Gmail's answer to a bad or expired token, before the 535.
XOAUTH2_ERROR = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}


def parse_xoauth2(blob):
    """(user, token) of a decoded XOAUTH2 initial response, or None."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    scheme, _sep, token = fields.get("auth", "").partition(" ")
    if not fields.get("user") or scheme.lower() != "bearer" or not token.strip():
        return None
    return fields["user"], token.strip()


class SmtpSink(Server):
    """An aiosmtpd server on loopback that keeps every message it receives.

    ``messages``: one dict per message: ``mail_from``, ``rcpt_tos``, ``raw``,
    ``auth_login`` (the XOAUTH2 login, or None) and ``auth_mechanism``.
    ``auth_attempts``: (mechanism, login, accepted) of every AUTH, no secret.
    """

    def __init__(self, oauth_provider=None):
        self.port = free_port()
        self.host = LOOPBACK
        self.oauth_provider = oauth_provider
        self.messages = []
        self.auth_attempts = []
        self._controller = None

    def start(self):

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                auth = session.auth_data if session.authenticated else None
                sink.messages.append(
                    {
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": list(envelope.rcpt_tos),
                        "raw": envelope.original_content or envelope.content,
                        "auth_login": getattr(auth, "login", None),
                        "auth_mechanism": getattr(auth, "mechanism", None),
                    }
                )
                return "250 Message accepted"

        if self.oauth_provider is not None:

            async def handle_AUTH(self, server, session, envelope, args):
                # The whole exchange is here rather than in auth_XOAUTH2: aiosmtpd
                # would store the login through its deprecated (warning)
                # Session.login_data.
                if args[0].upper() != "XOAUTH2":
                    return MISSING
                return await sink._auth_xoauth2(server, session, args)

            async def auth_XOAUTH2(self, server, args):  # advertised; see handle_AUTH
                return AuthResult(success=False)

            Handler.handle_AUTH = handle_AUTH
            Handler.auth_XOAUTH2 = auth_XOAUTH2
            # AUTH on the plain connection (no STARTTLS here), XOAUTH2 only: the sink
            # has no passwords to check.
            options = {"auth_require_tls": False, "auth_exclude_mechanism": ["PLAIN", "LOGIN"]}
        else:
            options = {}
        self._controller = Controller(Handler(), hostname=self.host, port=self.port, **options)
        self._controller.start()
        return self

    def stop(self):
        if self._controller:
            self._controller.stop()
            self._controller = None

    async def _auth_xoauth2(self, server, session, args):
        """The XOAUTH2 exchange; return the final reply (None: already sent)."""
        if len(args) > 1:
            blob = b"" if args[1] == "=" else args[1].encode()  # "=": empty (RFC 4954)
            try:
                decoded = base64.b64decode(blob, validate=True)
            except (binascii.Error, ValueError):
                self.auth_attempts.append(("XOAUTH2", None, False))
                return AUTH_SYNTAX
        else:
            decoded = await server.challenge_auth("")
            if decoded is MISSING:  # aborted with "*" or not base64: already answered
                self.auth_attempts.append(("XOAUTH2", None, False))
                return None
        parsed = parse_xoauth2(decoded)
        login = parsed[0] if parsed else None
        email = self.oauth_provider.email_of(parsed[1]) if parsed else None
        accepted = bool(email) and email.lower() == login.lower()
        self.auth_attempts.append(("XOAUTH2", login, accepted))
        if accepted:
            _logger.debug("SMTP sink: XOAUTH2 accepted for %s", login)
            session.authenticated = True
            session.auth_data = SimpleNamespace(login=login, mechanism="XOAUTH2")
            return AUTH_OK
        _logger.debug("SMTP sink: XOAUTH2 refused for %s", login)
        # Gmail's dance: an error challenge, the client's (empty) answer, then 535.
        # Whatever the client answers (smtplib.auth: an empty line; a client that
        # ignored the 334: its next command), the exchange ends with the 535.
        challenge = base64.b64encode(json.dumps(XOAUTH2_ERROR, separators=(",", ":")).encode())
        await server.push(b"334 " + challenge)
        if not await server._reader.readline():
            return None  # the client went away
        return AUTH_INVALID
