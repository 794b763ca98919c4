"""What the IMAP and POP3 sessions share: one interface for the sync, the socket, TLS
set-up, timeouts, error translation.

Whatever the protocol, the sync asks a session the same things: ``list_folders``,
``scan`` (what is new in a folder since a ``FolderCursor``), ``identify`` (the
provider's own ids of those messages, when it has any: Gmail's) and ``fetch`` (the
messages, as ``FetchedMessage``). Logging in is a hook: ``connect(authenticate)``
takes the function that authenticates the open connection (a password by default;
an OAuth2 module passes its own).
"""

import contextlib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from .errors import (
    ADVICE,
    AuthenticationFailed,
    ConnectionFailed,
    MailServerError,
    ProtocolError,
    ServerTimeout,
    TlsFailed,
)


class SessionSocketMixin:
    """Mixed into a protocol library's client class: it connects through its session.

    The session resolves the host, applies its address policy and opens the socket;
    the library only speaks the protocol over it. Pass ``session=`` to the constructor.
    """

    def __init__(self, *args, session, **kwargs):
        self.mail_session = session
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            # poplib leaves the socket open when the greeting is refused; the session
            # has no client to drop then.
            for name in ("file", "sock"):
                with contextlib.suppress(Exception):
                    getattr(self, name).close()
            raise

    def _create_socket(self, timeout):
        # The session's timeout is the one the library was given.
        return self.mail_session.open_socket()

    def _create_tls_socket(self, context):
        """The session's socket wrapped in TLS for the implicit-TLS classes."""
        sock = self.mail_session.open_socket()
        try:
            # The host name, not the address, so the certificate is checked against it.
            return context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


@dataclass(frozen=True)
class FolderInfo:
    """A folder as the server lists it."""

    name: str
    raw_name: str
    delimiter: str | None
    flags: tuple
    special_use: str | None
    selectable: bool


@dataclass
class FolderCursor:
    """Where the import of a folder stands: what a session needs to find what is new."""

    name: str
    uidvalidity: int = 0
    last_uid: int = 0
    since: date | None = None
    # The unique ids already seen, for protocols that cannot ask for "newer" (POP3).
    known: Callable[[], set] = field(default=set, repr=False)


@dataclass
class Scan:
    """What a session found new in a folder."""

    ids: list
    messages: int = 0
    uidvalidity: int | None = None
    uidnext: int | None = None


@dataclass(frozen=True)
class MessageIdentity:
    """What a provider calls a message in every folder that holds it.

    Gmail keeps each message once and shows it in INBOX, in a folder per label and in
    All Mail, under another UID in each: its X-GM-MSGID is the same everywhere.
    """

    provider_id: str
    labels: tuple = ()
    flags: tuple = ()


@dataclass
class FetchedMessage:
    """One message as the server sent it, and where it is."""

    raw: bytes
    uid: int | None = None
    pop_uidl: str | None = None
    internal_date: datetime | None = None
    flags: tuple = ()
    size: int = 0
    # The provider's id of the message, the same in every folder (Gmail's
    # X-GM-MSGID), and its labels; None and () on every other server.
    provider_id: str | None = None
    labels: tuple = ()


class MailSession:
    """Base of the protocol sessions; use a subclass as a context manager.

    Subclasses implement ``_open`` (connect and negotiate TLS), ``login_password``,
    ``_after_login``, ``_logout``, ``_drop`` and the sync interface (``list_folders``,
    ``scan``, ``fetch``; ``identify`` when the server names a message the same in every
    folder), and name their protocol's exceptions. Their library
    clients connect through ``open_socket`` (see ``SessionSocketMixin``) and set
    ``greeted`` once the server sent its protocol's greeting.
    """

    # Exceptions of the protocol library: a lost connection, and a server's "no".
    protocol_abort = ()
    protocol_error = ()
    # What the server should be, for the error about something else answering.
    server_kind = "a mail server"
    # What the protocol offers beyond the sync interface.
    can_append = False
    can_idle = False
    # Whether messages carry flags the sync can read and write (IMAP: \Seen, \Flagged).
    can_store_flags = False

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
        address_policy=None,
    ):
        self.host = host
        self.port = int(port)
        self.security = security
        self.login = login
        self._password = password
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.ssl_context = ssl_context
        # An AddressPolicy judging the addresses connected to; None: any address.
        self.address_policy = address_policy
        self.conn = None
        self.command_count = 0
        # Whether the server greeted as a mail server of the protocol: until then,
        # whatever it sent may come from another service and is never quoted.
        self.greeted = False

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

    def open_socket(self):
        """Connect to the server; return the connected socket, with the session timeout.

        The host is resolved here and the address policy judges the very addresses
        connected to, so a name cannot pass the check with one address and connect to
        another. The allowed addresses are tried in the resolver's order, like
        ``socket.create_connection`` does.

        :raise AddressRefused: when the policy refuses every address of the host,
            before any connection is attempted
        """
        addrinfos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if self.address_policy is not None:
            addrinfos = self.address_policy.filter_addresses(self.host, self.port, addrinfos)
        error = OSError(f"{self.host} has no address to connect to")
        for family, sock_type, proto, _canonname, address in addrinfos:
            sock = None
            try:
                sock = socket.socket(family, sock_type, proto)
                sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as exc:
                if sock is not None:
                    sock.close()
                error = exc
                continue
            return sock
        raise error

    def connect(self, authenticate=None):
        """Open the connection, negotiate TLS and log in.

        :param authenticate: called with this session once the connection is open, to
            authenticate it (default: ``login_password``); it talks to ``self.conn``
        """
        self.greeted = False
        try:
            self._open()
        except Exception as exc:
            self._abandon()
            raise self._translate(exc, "connecting to") from None
        try:
            (authenticate or type(self).login_password)(self)
            self._after_login()
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
        # Dropping a connection that is already broken may fail in any way: it is gone.
        with contextlib.suppress(Exception):
            if self.conn is not None:
                self._drop()
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
            # AddressRefused among them: its message is the policy's, as is.
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TlsFailed(
                f"The TLS certificate of {where} could not be verified ({exc.verify_message}). "
                + ADVICE["tls"]
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
        if not self.greeted and not isinstance(exc, OSError | EOFError):
            # The library's text quotes what the other end sent: the banner of whatever
            # listens there (SSH, HTTP, a database). A user must not read it.
            return ProtocolError(
                f"{where} did not greet the connection as {self.server_kind} would. Check "
                "the server and port."
            )
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

    def login_password(self):
        """Log in with the session's login and password."""
        raise NotImplementedError

    def _after_login(self):
        """Learn what the server offers once logged in."""

    def list_folders(self):
        """The mailbox's folders, as ``FolderInfo``."""
        raise NotImplementedError

    def scan(self, cursor):
        """What is new in a folder since ``cursor`` (a ``FolderCursor``), as a ``Scan``."""
        raise NotImplementedError

    def identify(self, ids):
        """The provider's own ids of the messages ``ids`` (from the last ``Scan``).

        A server that keeps each message once whatever folders show it (Gmail) names
        it the same in every folder: the sync then downloads only the messages it does
        not hold yet. Every other server has no such id: nothing is sent, and the sync
        fetches every message, as it always did.

        :return: ``{id: MessageIdentity}``, for the ids the server named
        """
        return {}

    def fetch(self, ids):
        """The messages of ``ids`` (from a ``Scan``), as ``FetchedMessage``."""
        raise NotImplementedError

    def _logout(self):
        raise NotImplementedError

    def _drop(self):
        raise NotImplementedError
