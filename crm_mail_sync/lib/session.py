"""What the IMAP and POP3 sessions share: TLS set-up, timeouts, error translation."""

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


class MailSession:
    """Base of the protocol sessions; use a subclass as a context manager.

    Subclasses implement ``_open`` (connect and negotiate TLS), ``_authenticate``,
    ``_logout`` and ``_drop``, and name their protocol's exceptions.
    """

    # Exceptions of the protocol library: a lost connection, and a server's "no".
    protocol_abort = ()
    protocol_error = ()

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
        self.command_count = 0

    def __repr__(self):  # never shows the password
        return f"<{type(self).__name__} {self.login}@{self.host}:{self.port}>"

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
            self._open()
        except Exception as exc:
            self._abandon()
            raise self._translate(exc, "connecting to") from None
        try:
            self._authenticate()
        except self.protocol_abort as exc:
            self._abandon()
            raise self._without_password(self._translate(exc, "logging in to")) from None
        except self.protocol_error as exc:
            self._abandon()
            detail = str(exc).replace(self._password, "***") if self._password else str(exc)
            raise AuthenticationFailed(detail.strip("b'\"")) from None
        except UnicodeError:
            # The error's text would quote the login command, password included.
            self._abandon()
            raise AuthenticationFailed(
                "The login or password holds characters this server's login command "
                "cannot carry (IMAP LOGIN takes ASCII only)."
            ) from None
        except Exception as exc:
            self._abandon()
            raise self._without_password(self._translate(exc, "logging in to")) from None
        self.command_count = 0

    def close(self):
        """Log out; quietly drop the socket when the server is gone."""
        if self.conn is None:
            return
        try:
            self._logout()
        except Exception:
            self._abandon()
        self.conn = None

    def _abandon(self):
        try:
            if self.conn is not None:
                self._drop()
        except Exception:
            pass
        self.conn = None

    def _without_password(self, error):
        """Return ``error`` with the password masked in its text.

        Errors raised while logging in may quote what the library was given; their
        text ends up in the log and in the account's last error, which users read.
        """
        text = str(error)
        if not self._password:
            return error
        masked = text
        for form in {self._password, repr(self._password)[1:-1], ascii(self._password)[1:-1]}:
            masked = masked.replace(form, "***")
        return error if masked == text else type(error)(masked)

    def _translate(self, exc, doing):
        """Turn a library or socket exception into a MailServerError for the admin."""
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
        if isinstance(exc, (*self.protocol_abort, OSError, EOFError)):
            return ConnectionFailed(f"The connection to {where} was lost while {doing} it: {exc}")
        if isinstance(exc, self.protocol_error):
            return ProtocolError(f"{where} answered unexpectedly while {doing} it: {exc}")
        return ProtocolError(f"Unexpected error while {doing} {where}: {exc!r}")

    def _call(self, doing, method, *args):
        """Run one protocol command, counted, with its errors translated."""
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

    def _open(self):
        raise NotImplementedError

    def _authenticate(self):
        raise NotImplementedError

    def _logout(self):
        raise NotImplementedError

    def _drop(self):
        raise NotImplementedError
