"""A read-only POP3 session: UIDL and TOP, never DELE.

Dovecot (like several servers) marks a message \\Seen when it is fetched with RETR;
TOP with a line count larger than any message returns the whole message without
that side effect, so TOP is used whenever the server offers it.
"""

import poplib

from .errors import ProtocolError
from .session import FetchedMessage, FolderInfo, MailSession, Scan, SessionSocketMixin

# poplib refuses lines over 2 KB by default; real mail has longer ones.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)
WHOLE_MESSAGE_LINES = 2**31 - 1


class _Pop3(SessionSocketMixin, poplib.POP3):
    """poplib over the session's socket."""


class _Pop3Ssl(SessionSocketMixin, poplib.POP3_SSL):
    def _create_socket(self, timeout):
        return self._create_tls_socket(self.context)


class Pop3Session(MailSession):
    """One logged-in POP3 connection; use as a context manager."""

    protocol_error = (poplib.error_proto,)
    server_kind = "a POP3 server"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capabilities = {}

    def _open(self):
        if self.security == "ssl":
            self.conn = _Pop3Ssl(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self._tls_context(),
                session=self,
            )
        else:
            self.conn = _Pop3(self.host, self.port, timeout=self.timeout, session=self)
        # poplib's constructor returns once the server answered "+OK".
        self.greeted = True
        if self.security == "starttls":
            self.conn.stls(context=self._tls_context())

    def login_password(self):
        self.conn.user(self.login)
        self.conn.pass_(self._password)

    def _after_login(self):
        try:
            self.capabilities = self.conn.capa()
        except poplib.error_proto:
            self.capabilities = {}

    def _logout(self):
        # QUIT: nothing was changed, so nothing is committed on the server.
        self.conn.quit()

    def _drop(self):
        self.conn.close()

    def list_uidls(self):
        """Return ``[(message number, UIDL)]`` for every message on the server."""
        try:
            _resp, lines, _octets = self._call("listing the messages of", self.conn.uidl)
        except ProtocolError as exc:
            raise ProtocolError(
                f"The server does not support UIDL, which is needed to sync without "
                f"deleting mail: {exc}"
            ) from None
        result = []
        for line in lines:
            parts = line.decode("ascii", "replace").split(None, 1)
            if len(parts) == 2:
                result.append((int(parts[0]), parts[1].strip()))
        return result

    def retrieve(self, msgnum):
        """Return message ``msgnum`` whole, leaving it unread and on the server."""
        if "TOP" in self.capabilities or not self.capabilities:
            try:
                _resp, lines, _octets = self._call(
                    "downloading a message from", self.conn.top, msgnum, WHOLE_MESSAGE_LINES
                )
                return b"\r\n".join(lines) + b"\r\n"
            except ProtocolError:
                if "TOP" in self.capabilities:
                    raise
        _resp, lines, _octets = self._call("downloading a message from", self.conn.retr, msgnum)
        return b"\r\n".join(lines) + b"\r\n"

    # ------------------------------------------------------------------
    # The sync interface: one folder, no "newer than", unique ids instead

    def list_folders(self):
        """POP3 has one mailbox: INBOX (listing its messages proves the server works)."""
        self.list_uidls()
        return [FolderInfo("INBOX", "INBOX", None, (), None, True)]

    def scan(self, cursor):
        """The messages whose unique id the cursor has not seen yet."""
        listing = self.list_uidls()
        known = cursor.known()
        return Scan(
            ids=[(number, uidl) for number, uidl in listing if uidl not in known],
            messages=len(listing),
        )

    def fetch(self, ids):
        """The messages of ``(number, uidl)`` pairs, whole and left unread."""
        for number, uidl in ids:
            raw = self.retrieve(number)
            yield FetchedMessage(raw=raw, pop_uidl=uidl, size=len(raw))
