"""A read-only IMAP session on imapclient: list folders, STATUS, EXAMINE, UID SEARCH,
UID FETCH.

The sync never changes the server: folders are opened with EXAMINE, bodies are fetched
with BODY.PEEK (so \\Seen is never set), and no STORE, EXPUNGE, COPY, MOVE or DELETE is
ever sent. The one exception is an account's opt-in two-way flags: ``store_flags``
then adds or removes \\Seen and \\Flagged, nothing else (never EXPUNGE). Every
socket operation has a timeout. imapclient parses the server's answers (literals,
quoted names, response codes, modified UTF-7); underneath it, imaplib talks over the
session's own socket (address policy, TLS, greeting check).

On Gmail (capability X-GM-EXT-1) one message shows in INBOX, in a folder per label and
in All Mail: ``identify`` asks for its X-GM-MSGID (the same in every folder) and its
labels before the bodies, so that the sync downloads each message once. Other servers
never receive an X-GM item.
"""

import imaplib
import re
import select
import time
from dataclasses import dataclass
from datetime import timezone

import imapclient
from imapclient import imap_utf7
from imapclient.response_parser import parse_fetch_response

from .errors import ConnectionFailed, FlagsRefused, FolderMissing, ProtocolError
from .session import (
    FetchedMessage,
    FolderInfo,
    MailSession,
    MessageIdentity,
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
FETCH_ITEMS = "(UID FLAGS INTERNALDATE BODY.PEEK[])"
# Gmail's IMAP extension (https://developers.google.com/gmail/imap/imap-extensions).
GMAIL_EXTENSION = "X-GM-EXT-1"
# What names a Gmail message across folders, without its body: a cheap FETCH.
GMAIL_IDENTIFY_ITEMS = "(UID FLAGS X-GM-MSGID X-GM-LABELS)"
GMAIL_FETCH_ITEMS = "(UID FLAGS INTERNALDATE X-GM-MSGID X-GM-LABELS BODY.PEEK[])"
STATUS_ITEMS = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
# The flags of messages, without anything else: what two-way flags read.
FLAG_ITEMS = "(UID FLAGS)"
# The only flags the add-on ever stores (two-way flags, off by default).
STORABLE_FLAGS = ("\\Seen", "\\Flagged")
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)", re.I)
_NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.I)


@dataclass
class FolderStatus:
    uidvalidity: int
    uidnext: int
    messages: int


def decode_modified_utf7(name):
    """Decode an IMAP folder name (RFC 3501 modified UTF-7) for display."""
    return imap_utf7.decode(name.encode("utf-8") if isinstance(name, str) else name)


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


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _flags(values):
    # \Recent belongs to the session, not to the message.
    return tuple(_text(flag) for flag in values or () if _text(flag) != "\\Recent")


def gmail_identity(data):
    """The ``MessageIdentity`` in one parsed FETCH answer (imapclient's dict), or None.

    X-GM-MSGID is a 64-bit unsigned number, kept as its decimal text; X-GM-LABELS are
    atoms or quoted strings (system labels start with a backslash: ``"\\Inbox"``),
    in modified UTF-7 like folder names.
    """
    msgid = data.get(b"X-GM-MSGID")
    if msgid is None or not str(msgid).isdigit():
        return None
    return MessageIdentity(
        provider_id=str(int(msgid)),
        labels=tuple(decode_modified_utf7(_text(label)) for label in data.get(b"X-GM-LABELS", ())),
        flags=_flags(data.get(b"FLAGS")),
    )


def _utc(value):
    """A naive UTC datetime from imapclient's INTERNALDATE (aware, as the server wrote it)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


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


class _Client(imapclient.IMAPClient):
    """imapclient over the session's transport, folder names as the server writes them."""

    def __init__(self, session):
        self.mail_session = session
        super().__init__(
            session.host,
            session.port,
            use_uid=True,
            ssl=session.security == "ssl",
            timeout=session.timeout,
        )
        # Folder names stay in modified UTF-7, as stored on the folders (``raw_name``).
        self.folder_encode = False
        self.normalise_times = False
        # imapclient turns imaplib's traffic log on (every line formatted, bodies
        # included); nothing reads it here.
        self._imap.debug = 0

    def _create_IMAP4(self):
        session = self.mail_session
        if session.security == "ssl":
            return _Imap4Ssl(
                session.host,
                session.port,
                ssl_context=session._tls_context(),
                timeout=session.timeout,
                session=session,
            )
        return _Imap4(session.host, session.port, timeout=session.timeout, session=session)


class ImapSession(MailSession):
    """One logged-in IMAP connection; use as a context manager.

    ``conn`` is an ``imapclient.IMAPClient``: a login hook can call its ``login``,
    ``plain_login`` or ``oauth2_login``.
    """

    # abort (connection lost) subclasses error: it must be tested first. imapclient's
    # errors subclass imaplib's.
    protocol_abort = (imaplib.IMAP4.abort,)
    protocol_error = (imaplib.IMAP4.error,)
    server_kind = "an IMAP server"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capabilities = ()
        self.selected = None

    def _open(self):
        self.conn = _Client(self)
        if self.security == "starttls":
            self.conn.starttls(self._tls_context())

    can_append = True
    can_idle = True
    can_store_flags = True

    def login_password(self):
        self.conn.login(self.login, self._password)

    def _after_login(self):
        self.capabilities = tuple(_text(c).upper() for c in self.conn.capabilities())

    @property
    def gmail_extension(self):
        """Whether the server speaks Gmail's extension (X-GM-MSGID, X-GM-LABELS)."""
        return GMAIL_EXTENSION in self.capabilities

    def _logout(self):
        self.conn.logout()

    def _drop(self):
        self.conn.shutdown()

    def _answered(self, doing, method, *args, refused=None):
        """Run one command; when the server answers NO or BAD, raise ``refused``
        (a MailServerError) instead of a protocol error."""
        try:
            return self._call(doing, method, *args)
        except ProtocolError:
            if refused is None:
                raise
            raise refused from None

    # ------------------------------------------------------------------

    def list_folders(self):
        """Return every folder of the mailbox as ``FolderInfo``."""
        if "SPECIAL-USE" in self.capabilities:

            def listing():
                imap = self.conn._imap
                typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
                self.conn._checkok("list", typ, data)
                typ, data = imap._untagged_response(typ, data, "LIST")
                return self.conn._proc_folder_list(data)

            listed = self._call("listing the folders of", listing)
        else:
            listed = self._call("listing the folders of", self.conn.list_folders)
        folders = []
        for flags, delimiter, name in listed:
            flags = tuple(_text(flag) for flag in flags)
            lowered = [flag.lower() for flag in flags]
            raw = _text(name)
            folders.append(
                FolderInfo(
                    name=decode_modified_utf7(raw),
                    raw_name=raw,
                    delimiter=_text(delimiter) if delimiter else None,
                    flags=flags,
                    special_use=next((f for f in flags if f.lower() in SPECIAL_USE_FLAGS), None),
                    selectable="\\noselect" not in lowered and "\\nonexistent" not in lowered,
                )
            )
        return folders

    def status(self, raw_name):
        """One STATUS command: the folder's UIDVALIDITY, UIDNEXT and message count."""
        values = self._answered(
            "reading the status of a folder on",
            self.conn.folder_status,
            raw_name,
            STATUS_ITEMS,
            refused=FolderMissing(f"Folder {raw_name!r} does not exist on the server."),
        )
        values = {_text(key).upper(): value for key, value in values.items()}
        if "UIDVALIDITY" not in values or "UIDNEXT" not in values:
            raise ProtocolError(f"Incomplete STATUS answer for {raw_name!r}: {values!r}")
        return FolderStatus(
            int(values["UIDVALIDITY"]), int(values["UIDNEXT"]), int(values.get("MESSAGES", 0))
        )

    def select(self, raw_name):
        """Open a folder read-only (EXAMINE)."""
        values = self._answered(
            "opening a folder on",
            self.conn.select_folder,
            raw_name,
            True,
            refused=FolderMissing(f"Folder {raw_name!r} cannot be opened."),
        )
        self.selected = raw_name
        return FolderStatus(
            int(values.get(b"UIDVALIDITY", 0)),
            int(values.get(b"UIDNEXT", 0)),
            int(values.get(b"EXISTS", 0)),
        )

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
        criteria = ["UID", f"{max(int(min_uid), 1)}:*"]
        if since:
            criteria += ["SINCE", since.date() if hasattr(since, "date") else since]
        uids = self._call("searching a folder on", self.conn.search, criteria)
        # "n:*" always includes the highest UID, even when it is below n.
        return sorted(int(uid) for uid in uids if int(uid) >= min_uid)

    def identify(self, uids):
        """Gmail's ids of the messages ``uids`` of the folder scanned last, with their
        labels and flags: one FETCH without bodies. Other servers: nothing is sent.

        :return: ``{uid: MessageIdentity}``
        """
        if not uids or not self.gmail_extension:
            return {}
        answers = self._call(
            "reading the message ids of", self._uid_fetch, uids, GMAIL_IDENTIFY_ITEMS
        )
        identities = {int(uid): gmail_identity(data) for uid, data in answers.items()}
        return {uid: identity for uid, identity in identities.items() if identity}

    def fetch(self, uids):
        """Fetch whole messages by UID, in UID order, without setting \\Seen.

        On Gmail each message also carries its X-GM-MSGID and labels.
        """
        if not uids:
            return
        items = GMAIL_FETCH_ITEMS if self.gmail_extension else FETCH_ITEMS
        answers = self._call("fetching messages from", self._uid_fetch, uids, items)
        messages = []
        for uid, data in answers.items():
            raw = data.get(b"BODY[]")
            if raw is None:
                continue
            identity = gmail_identity(data) if self.gmail_extension else None
            messages.append(
                FetchedMessage(
                    uid=int(uid),
                    raw=raw,
                    internal_date=_utc(data.get(b"INTERNALDATE")),
                    flags=_flags(data.get(b"FLAGS")),
                    size=len(raw),
                    provider_id=identity.provider_id if identity else None,
                    labels=identity.labels if identity else (),
                )
            )
        messages.sort(key=lambda message: message.uid)
        yield from messages

    def _uid_fetch(self, uids, items=FETCH_ITEMS):
        """UID FETCH of ``items`` of ``uids`` as compact ranges (1:500, not 500 numbers:
        servers bound the command line), parsed by imapclient; unsolicited answers
        dropped."""
        imap = self.conn._imap
        tag = imap._command("UID", "FETCH", uid_set(uids), items)
        typ, data = imap._command_complete("FETCH", tag)
        self.conn._checkok("fetch", typ, data)
        typ, data = imap._untagged_response(typ, data, "FETCH")
        wanted = set(uids)
        answers = parse_fetch_response(data, normalise_times=False, uid_is_key=True)
        return {uid: answer for uid, answer in answers.items() if uid in wanted}

    # ------------------------------------------------------------------
    # Flags (two-way flags: off by default; the sync alone never stores)
    # ------------------------------------------------------------------

    @property
    def condstore(self):
        """Whether the server tells which messages' flags changed (RFC 7162 CONDSTORE)."""
        return "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities

    def highest_modseq(self, raw_name):
        """The folder's UIDVALIDITY and HIGHESTMODSEQ (one STATUS command).

        :return: ``(uidvalidity, modseq)``; modseq is None when the server keeps none
        """
        values = self._answered(
            "reading the status of a folder on",
            self.conn.folder_status,
            raw_name,
            ["UIDVALIDITY", "HIGHESTMODSEQ"],
            refused=FolderMissing(f"Folder {raw_name!r} does not exist on the server."),
        )
        values = {_text(key).upper(): value for key, value in values.items()}
        modseq = values.get("HIGHESTMODSEQ")
        return int(values.get("UIDVALIDITY", 0)), int(modseq) if modseq else None

    def fetch_flags(self, raw_name, uids=None, changed_since=None):
        """The flags of messages of a folder, opened read-only: those of ``uids``, or
        (with ``changed_since``, CONDSTORE) of every message whose flags changed after
        that mod-sequence. No body is fetched, nothing is changed.

        :return: ``(uidvalidity, {uid: flags})``
        """
        status = self.select(raw_name)
        if changed_since is None and not uids:
            return status.uidvalidity, {}
        modifiers = f"(CHANGEDSINCE {int(changed_since)})" if changed_since is not None else None
        answers = self._call(
            "reading the flags of messages on",
            self._uid_fetch_flags,
            "1:*" if changed_since is not None else uid_set(uids),
            modifiers,
        )
        wanted = set(uids) if uids else None
        flags = {
            int(uid): _flags(data.get(b"FLAGS"))
            for uid, data in answers.items()
            if wanted is None or int(uid) in wanted
        }
        return status.uidvalidity, flags

    def _uid_fetch_flags(self, sequence, modifiers=None):
        imap = self.conn._imap
        args = ["UID", "FETCH", sequence, FLAG_ITEMS] + ([modifiers] if modifiers else [])
        tag = imap._command(*args)
        typ, data = imap._command_complete("FETCH", tag)
        self.conn._checkok("fetch", typ, data)
        typ, data = imap._untagged_response(typ, data, "FETCH")
        return parse_fetch_response(data, normalise_times=False, uid_is_key=True)

    def store_flags(self, raw_name, changes, uidvalidity=None):
        """Add or remove \\Seen and \\Flagged on messages of a folder: one
        ``UID STORE`` per flag and direction, with a UID set.

        Only those two flags are ever named: nothing is deleted, moved or expunged, no
        other flag (\\Deleted among them) is touched. The folder is opened for
        writing (SELECT) for the commands, then read-only again (EXAMINE, which closes
        it without expunging).

        :param changes: ``{(flag, add): uids}``, flag one of ``STORABLE_FLAGS``
        :param uidvalidity: the folder's UIDVALIDITY the UIDs belong to; when the
            server's differs, nothing is stored (the UIDs name other messages now)
        :return: False when the folder was renumbered, else True
        :raise FlagsRefused: when the server opens the folder read-only or refuses STORE
        """
        for flag, _add in changes:
            if flag not in STORABLE_FLAGS:
                raise ValueError(f"Flag {flag!r} is never stored.")

        def select_writable():
            try:
                return self.conn.select_folder(raw_name, False)
            except imaplib.IMAP4.readonly:
                # The folder is selected, read-only: the connection goes on, in the
                # state imaplib would have set had it been asked for EXAMINE.
                self.conn._imap.is_readonly = True
                return None

        values = self._answered(
            "opening a folder on",
            select_writable,
            refused=FolderMissing(f"Folder {raw_name!r} cannot be opened."),
        )
        self.selected = raw_name
        if values is None or b"READ-ONLY" in values:
            raise FlagsRefused(f"{self.host} opens folder {raw_name!r} read-only.")
        if uidvalidity and int(values.get(b"UIDVALIDITY", 0)) != int(uidvalidity):
            self.select(raw_name)
            return False
        try:
            for (flag, add), uids in changes.items():
                if not uids:
                    continue
                method = self.conn.add_flags if add else self.conn.remove_flags
                self._answered(
                    "storing flags on",
                    method,
                    uid_set(uids),
                    [flag],
                    True,
                    refused=FlagsRefused(
                        f"{self.host} refused to store flags in folder {raw_name!r}."
                    ),
                )
        finally:
            if self.conn is not None:
                self.select(raw_name)
        return True

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
        imap = self.conn._imap
        self._idle_tag = imap._new_tag()
        line = self._idle_io(lambda: (imap.send(self._idle_tag + b" IDLE\r\n"), imap.readline())[1])
        if not line.startswith(b"+"):
            raise ProtocolError(f"IDLE refused: {line[:200]!r}")

    @staticmethod
    def idle_wait(sessions, timeout):
        """The sessions (in IDLE) the server has written to, within ``timeout`` seconds.

        Waits on the sockets themselves: a read timeout would leave imaplib's buffered
        reader in an undefined state. TLS may hold decrypted bytes already.
        """
        pending = [s for s in sessions if getattr(s.conn.socket(), "pending", lambda: 0)()]
        if pending:
            return pending
        by_socket = {session.conn.socket(): session for session in sessions}
        ready = select.select(list(by_socket), [], [], max(timeout, 0))[0]
        return [by_socket[sock] for sock in ready]

    def idle_check(self):
        """Read what the server sent during IDLE; True when it announces new mail."""
        line = self._idle_io(self.conn._imap.readline)
        if not line:
            self._abandon()
            raise ConnectionFailed(f"{self.host} closed the connection during IDLE.")
        return bool(_NEW_MAIL.match(line))

    def idle_done(self):
        """Leave IDLE; the session can send commands again."""

        def done():
            self.conn._imap.send(b"DONE\r\n")
            while True:
                line = self.conn._imap.readline()
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
        answer = self._call(
            "appending a message on",
            self.conn.append,
            raw_name,
            raw,
            tuple(flags),
            internal_date,
        )
        match = _APPENDUID.search(answer if isinstance(answer, bytes) else b"")
        return int(match.group(2)) if match else None
