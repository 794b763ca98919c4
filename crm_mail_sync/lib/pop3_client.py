"""A read-only POP3 session: UIDL and TOP, never DELE.

Dovecot (like several servers) marks a message \\Seen when it is fetched with RETR;
TOP with a line count larger than any message returns the whole message without
that side effect, so TOP is used whenever the server offers it.
"""

import poplib
import socket
import ssl

from .errors import (
    AuthenticationFailed,
    ConnectionFailed,
    MailServerError,
    ProtocolError,
    ServerTimeout,
    TlsFailed,
)

# poplib refuses lines over 2 KB by default; real mail has longer ones.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)
WHOLE_MESSAGE_LINES = 2**31 - 1


class Pop3Session:
    """One logged-in POP3 connection; use as a context manager."""

    def __init__(
        self,
        host,
        port,
        security,
        login,
        password,
        timeout=30.0,
        verify_tls=True,
        ssl_context=None,
    ):
        self.host = host
        self.port = int(port)
        self.security = security
        self.login = login
        self._password = password
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.ssl_context = ssl_context
        self.conn = None
        self.capabilities = {}
        self.command_count = 0

    def __repr__(self):  # never shows the password
        return f"<Pop3Session {self.login}@{self.host}:{self.port}>"

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _tls_context(self):
        if self.ssl_context is not None:
            return self.ssl_context
        context = ssl.create_default_context()
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self):
        """Open the connection, negotiate TLS and log in."""
        try:
            if self.security == "ssl":
                self.conn = poplib.POP3_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._tls_context()
                )
            else:
                self.conn = poplib.POP3(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    self.conn.stls(context=self._tls_context())
        except Exception as exc:
            self._abandon()
            raise self._translate(exc, "connecting to") from None
        try:
            self.conn.user(self.login)
            self.conn.pass_(self._password)
        except poplib.error_proto as exc:
            self._abandon()
            detail = str(exc).replace(self._password, "***") if self._password else str(exc)
            raise AuthenticationFailed(detail.strip("b'\"")) from None
        except Exception as exc:
            self._abandon()
            raise self._translate(exc, "logging in to") from None
        try:
            self.capabilities = self.conn.capa()
        except poplib.error_proto:
            self.capabilities = {}
        self.command_count = 0

    def close(self):
        """QUIT (nothing was changed, so nothing is committed); drop a dead socket."""
        if self.conn is None:
            return
        try:
            self.conn.quit()
        except Exception:
            self._abandon()
        self.conn = None

    def _abandon(self):
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:
            pass
        self.conn = None

    def _translate(self, exc, doing):
        where = f"{self.host}:{self.port}"
        if isinstance(exc, MailServerError):
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TlsFailed(
                f"The TLS certificate of {where} could not be verified ({exc.verify_message}). "
                "Check the server name, or untick 'Verify Certificate' for a self-signed "
                "certificate you trust."
            )
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            return TlsFailed(f"TLS failed while {doing} {where}: {exc}")
        if isinstance(exc, TimeoutError | socket.timeout):
            return ServerTimeout(
                f"{where} did not answer within {self.timeout:g} seconds while {doing} it."
            )
        if isinstance(exc, ConnectionRefusedError):
            return ConnectionFailed(f"{where} refused the connection. Check server and port.")
        if isinstance(exc, socket.gaierror):
            return ConnectionFailed(f"The server name {self.host!r} could not be resolved.")
        if isinstance(exc, OSError | EOFError):
            return ConnectionFailed(f"The connection to {where} failed while {doing} it: {exc}")
        if isinstance(exc, poplib.error_proto):
            return ProtocolError(f"{where} answered unexpectedly while {doing} it: {exc}")
        return ProtocolError(f"Unexpected error while {doing} {where}: {exc!r}")

    def _call(self, doing, method, *args):
        if self.conn is None:
            raise ConnectionFailed("Not connected.")
        self.command_count += 1
        try:
            return method(*args)
        except Exception as exc:
            error = self._translate(exc, doing)
            if not isinstance(error, ProtocolError):
                self._abandon()
            raise error from None

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
