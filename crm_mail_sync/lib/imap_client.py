"""A read-only IMAP session: list folders, STATUS, EXAMINE, UID SEARCH, UID FETCH.

Never changes the server: folders are opened with EXAMINE, bodies are fetched with
BODY.PEEK (so \\Seen is never set), and no STORE, EXPUNGE, COPY, MOVE or DELETE is
ever sent. Every socket operation has a timeout.
"""

import base64
import imaplib
import re
import select
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import ConnectionFailed, FolderMissing, ProtocolError
from .session import (
    FetchedMessage,
    FolderInfo,
    MailSession,
    Scan,
    SessionSocketMixin,
)

SPECIAL_USE_FLAGS = ("\\sent", "\\drafts", "\\trash", "\\junk", "\\archive", "\\all", "\\flagged")
SENT_NAMES = {
    "sent",
    "sent items",
    "sent messages",
    "sent mail",
    "sent-mail",
    "envoyés",
    "éléments envoyés",
    "messages envoyés",
    "gesendet",
    "gesendete elemente",
    "gesendete objekte",
    "odeslaná pošta",
    "odeslané",
    "wysłane",
    "elementy wysłane",
    "enviados",
    "elementos enviados",
    "posta inviata",
    "inviati",
    "verzonden items",
    "skickat",
}
FETCH_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delim>"(?:\\.|[^"])*"|NIL) ?(?P<name>.*)$')
_STATUS_ITEM = re.compile(rb"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)", re.I)
_FETCH_UID = re.compile(rb"UID (\d+)", re.I)
_FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)", re.I)
_FETCH_DATE = re.compile(rb'INTERNALDATE "([^"]+)"', re.I)
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)", re.I)
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)", re.I)
_NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.I)


@dataclass
class FolderStatus:
    uidvalidity: int
    uidnext: int
    messages: int


def decode_modified_utf7(name):
    """Decode an IMAP folder name (RFC 3501 modified UTF-7) for display."""

    def _decode(match):
        chunk = match.group(1)
        if not chunk:
            return "&"
        chunk = chunk.replace(",", "/")
        padded = chunk + "=" * (-len(chunk) % 4)
        try:
            return base64.b64decode(padded).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", _decode, name)


def quote_mailbox(raw_name):
    """Quote a folder name for an IMAP command."""
    return '"' + raw_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_set(uids):
    """Compress sorted UIDs into an IMAP sequence set: 1:5,7,9:12."""
    ranges = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _last_component(folder):
    name = folder.name
    if folder.delimiter:
        name = name.rsplit(folder.delimiter, 1)[-1]
    return name.strip().lower()


def is_sent_folder(folder):
    """Whether ``folder`` (FolderInfo) is the Sent folder, by SPECIAL-USE or by name."""
    if folder.special_use:
        return folder.special_use.lower() == "\\sent"
    return _last_component(folder) in SENT_NAMES or folder.name.lower() == "[gmail]/sent mail"


def default_sync_folder_names(folders):
    """Return the raw names of the folders ticked by default: INBOX and Sent."""
    names = {f.raw_name for f in folders if f.raw_name.upper() == "INBOX"}
    by_flag = [f for f in folders if f.selectable and (f.special_use or "").lower() == "\\sent"]
    sent = by_flag or [
        f for f in folders if f.selectable and not f.special_use and is_sent_folder(f)
    ]
    if sent:
        names.add(sent[0].raw_name)
    return names


def _parse_internal_date(value):
    try:
        parsed = datetime.strptime(value.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


class _SessionImap(SessionSocketMixin):
    """imaplib over the session's socket; tells the session when the server greets."""

    def _get_response(self):
        response = super()._get_response()
        # The first response is the greeting: "* OK" or "* PREAUTH" from an IMAP server.
        if not self.mail_session.greeted and (
            "OK" in self.untagged_responses or "PREAUTH" in self.untagged_responses
        ):
            self.mail_session.greeted = True
        return response


class _Imap4(_SessionImap, imaplib.IMAP4):
    pass


class _Imap4Ssl(_SessionImap, imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        return self._create_tls_socket(self.ssl_context)


class ImapSession(MailSession):
    """One logged-in IMAP connection; use as a context manager."""

    # abort (connection lost) subclasses error: it must be tested first.
    protocol_abort = (imaplib.IMAP4.abort,)
    protocol_error = (imaplib.IMAP4.error,)
    server_kind = "an IMAP server"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capabilities = ()
        self.selected = None

    def _open(self):
        if self.security == "ssl":
            self.conn = _Imap4Ssl(
                self.host,
                self.port,
                ssl_context=self._tls_context(),
                timeout=self.timeout,
                session=self,
            )
        else:
            self.conn = _Imap4(self.host, self.port, timeout=self.timeout, session=self)
            if self.security == "starttls":
                self.conn.starttls(ssl_context=self._tls_context())

    can_append = True
    can_idle = True

    def login_password(self):
        self.conn.login(self.login, self._password)

    def _after_login(self):
        self.capabilities = tuple(c.upper() for c in self.conn.capabilities)

    def _logout(self):
        self.conn.logout()

    def _drop(self):
        self.conn.shutdown()

    # ------------------------------------------------------------------

    def list_folders(self):
        """Return every folder of the mailbox as ``FolderInfo``."""
        if "SPECIAL-USE" in self.capabilities:
            typ, data = self._call(
                "listing the folders of",
                self.conn._simple_command,
                "LIST",
                '""',
                '"*"',
                "RETURN",
                "(SPECIAL-USE)",
            )
            typ, data = self.conn._untagged_response(typ, data, "LIST")
        else:
            typ, data = self._call("listing the folders of", self.conn.list, '""', "*")
        if typ != "OK":
            raise ProtocolError(f"LIST failed: {data!r}")
        folders = []
        items = list(data or [])
        index = 0
        while index < len(items):
            item = items[index]
            index += 1
            if item is None:
                continue
            literal = None
            if isinstance(item, tuple):
                item, literal = item
            match = _LIST_LINE.match(item.strip())
            if not match:
                continue
            flags = tuple(match.group("flags").decode("ascii", "replace").split())
            delim = match.group("delim")
            delim = None if delim == b"NIL" else delim[1:-1].replace(b"\\\\", b"\\").decode()
            if literal is not None:
                raw = literal.decode("utf-8", "replace")
            else:
                raw = match.group("name").decode("utf-8", "replace").strip()
                if raw.startswith('"') and raw.endswith('"'):
                    raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            lowered = [flag.lower() for flag in flags]
            special = next((flag for flag in flags if flag.lower() in SPECIAL_USE_FLAGS), None)
            folders.append(
                FolderInfo(
                    name=decode_modified_utf7(raw),
                    raw_name=raw,
                    delimiter=delim,
                    flags=flags,
                    special_use=special,
                    selectable="\\noselect" not in lowered and "\\nonexistent" not in lowered,
                )
            )
        return folders

    def status(self, raw_name):
        """One STATUS command: the folder's UIDVALIDITY, UIDNEXT and message count."""
        typ, data = self._call(
            "reading the status of a folder on",
            self.conn.status,
            quote_mailbox(raw_name),
            "(UIDVALIDITY UIDNEXT MESSAGES)",
        )
        if typ != "OK":
            raise FolderMissing(f"Folder {raw_name!r} does not exist on the server.")
        line = b" ".join(
            part if isinstance(part, bytes) else b" ".join(part) for part in data if part
        )
        values = {key.decode().upper(): int(value) for key, value in _STATUS_ITEM.findall(line)}
        if "UIDVALIDITY" not in values or "UIDNEXT" not in values:
            raise ProtocolError(f"Incomplete STATUS answer for {raw_name!r}: {line[:200]!r}")
        return FolderStatus(values["UIDVALIDITY"], values["UIDNEXT"], values.get("MESSAGES", 0))

    def select(self, raw_name):
        """Open a folder read-only (EXAMINE)."""
        typ, data = self._call(
            "opening a folder on", self.conn.select, quote_mailbox(raw_name), True
        )
        if typ != "OK":
            raise FolderMissing(f"Folder {raw_name!r} cannot be opened: {data!r}")
        self.selected = raw_name
        untagged = self.conn.untagged_responses
        uidvalidity = int((untagged.get("UIDVALIDITY") or [b"0"])[-1])
        uidnext = int((untagged.get("UIDNEXT") or [b"0"])[-1])
        return FolderStatus(uidvalidity, uidnext, int(data[0] or 0))

    def scan(self, cursor):
        """The UIDs of a folder above the cursor's last one (all of them when the folder
        was renumbered), received on or after its ``since`` date.

        A folder with nothing new costs one STATUS command.

        :raise FolderMissing: when the folder no longer exists
        """
        status = self.status(cursor.name)
        same = not cursor.uidvalidity or status.uidvalidity == cursor.uidvalidity
        last = cursor.last_uid if same else 0
        uids = []
        if status.uidnext - 1 > last:
            self.select(cursor.name)
            uids = self.search_uids(min_uid=last + 1, since=cursor.since)
        return Scan(
            ids=uids,
            messages=status.messages,
            uidvalidity=status.uidvalidity,
            uidnext=status.uidnext,
        )

    def search_uids(self, min_uid=1, since=None):
        """UIDs >= ``min_uid`` in the selected folder, received on or after ``since``."""
        criteria = [f"UID {max(int(min_uid), 1)}:*"]
        if since:
            criteria.append("SINCE " + since.strftime("%d-%b-%Y"))
        typ, data = self._call("searching a folder on", self.conn.uid, "SEARCH", " ".join(criteria))
        if typ != "OK":
            raise ProtocolError(f"UID SEARCH failed: {data!r}")
        uids = [int(uid) for uid in b" ".join(d for d in data if d).split()]
        # "n:*" always includes the highest UID, even when it is below n.
        return sorted(uid for uid in uids if uid >= min_uid)

    def fetch(self, uids):
        """Fetch whole messages by UID, in UID order, without setting \\Seen."""
        if not uids:
            return
        typ, data = self._call(
            "fetching messages from", self.conn.uid, "FETCH", uid_set(uids), FETCH_ITEMS
        )
        if typ != "OK":
            raise ProtocolError(f"UID FETCH failed: {data!r}")
        messages = []
        items = list(data or [])
        for index, item in enumerate(items):
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            # Some servers send FLAGS or UID after the body literal.
            following = items[index + 1] if index + 1 < len(items) else b""
            if isinstance(following, bytes):
                meta = meta + b" " + following
            uid = _FETCH_UID.search(meta)
            if not uid:
                continue
            flags = _FETCH_FLAGS.search(meta)
            date = _FETCH_DATE.search(meta)
            size = _FETCH_SIZE.search(meta)
            messages.append(
                FetchedMessage(
                    uid=int(uid.group(1)),
                    raw=raw,
                    internal_date=_parse_internal_date(date.group(1)) if date else None,
                    flags=tuple(
                        flag
                        for flag in (
                            flags.group(1).decode("ascii", "replace").split() if flags else ()
                        )
                        # \Recent belongs to the session, not to the message.
                        if flag != "\\Recent"
                    ),
                    size=int(size.group(1)) if size else len(raw),
                )
            )
        messages.sort(key=lambda message: message.uid)
        yield from messages

    def idle(self, raw_name, timeout):
        """Wait up to ``timeout`` seconds for new mail in a folder (IMAP IDLE, RFC 2177).

        The folder is opened read-only; nothing on the server changes.

        :return: True when the server announced new messages, False on timeout
        :raise ProtocolError: when the server does not support IDLE
        """
        self.idle_start(raw_name)
        deadline = time.monotonic() + timeout
        arrived = False
        while not arrived and (remaining := deadline - time.monotonic()) > 0:
            if not self.idle_wait([self], remaining):
                break
            arrived = self.idle_check()
        self.idle_done()
        return arrived

    def idle_start(self, raw_name):
        """Open ``raw_name`` read-only and enter IDLE; wait with ``idle_wait``."""
        if "IDLE" not in self.capabilities:
            raise ProtocolError(f"{self.host} does not support IMAP IDLE.")
        self.select(raw_name)
        self.command_count += 1
        self._idle_tag = self.conn._new_tag()
        line = self._idle_io(
            lambda: (self.conn.send(self._idle_tag + b" IDLE\r\n"), self.conn.readline())[1]
        )
        if not line.startswith(b"+"):
            raise ProtocolError(f"IDLE refused: {line[:200]!r}")

    @staticmethod
    def idle_wait(sessions, timeout):
        """The sessions (in IDLE) the server has written to, within ``timeout`` seconds.

        Waits on the sockets themselves: a read timeout would leave imaplib's buffered
        reader in an undefined state. TLS may hold decrypted bytes already.
        """
        pending = [s for s in sessions if getattr(s.conn.sock, "pending", lambda: 0)()]
        if pending:
            return pending
        by_socket = {session.conn.sock: session for session in sessions}
        ready = select.select(list(by_socket), [], [], max(timeout, 0))[0]
        return [by_socket[sock] for sock in ready]

    def idle_check(self):
        """Read what the server sent during IDLE; True when it announces new mail."""
        line = self._idle_io(self.conn.readline)
        if not line:
            self._abandon()
            raise ConnectionFailed(f"{self.host} closed the connection during IDLE.")
        return bool(_NEW_MAIL.match(line))

    def idle_done(self):
        """Leave IDLE; the session can send commands again."""

        def done():
            self.conn.send(b"DONE\r\n")
            while True:
                line = self.conn.readline()
                if not line:
                    raise EOFError("connection closed after IDLE")
                if line.startswith(self._idle_tag):
                    return line

        self._idle_io(done)

    def _idle_io(self, function):
        try:
            return function()
        except Exception as exc:
            # The conversation is out of step: this connection cannot be used again.
            self._abandon()
            raise self._translate(exc, "waiting for new mail on") from None

    def append(self, raw_name, raw, flags=(), internal_date=None):
        """APPEND a message (used by tests and by sending, never by the sync).

        :return: the new UID when the server reports it (UIDPLUS), else None
        """
        date = imaplib.Time2Internaldate(internal_date) if internal_date else None
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        typ, data = self._call(
            "appending a message on",
            self.conn.append,
            quote_mailbox(raw_name),
            flag_list,
            date,
            raw,
        )
        if typ != "OK":
            raise ProtocolError(f"APPEND failed: {data!r}")
        match = _APPENDUID.search(b" ".join(d for d in data if isinstance(d, bytes)))
        return int(match.group(2)) if match else None
