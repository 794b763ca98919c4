"""``ReplayImapServer``: a tiny IMAP server on loopback that answers in the forms a
recorded server used (Gmail's, for the tests of its extension): no Odoo import here.

No Gmail server runs in the tests. The transcript (``test_gmail.GMAIL``: greeting,
CAPABILITY, LIST, STATUS, EXAMINE, SEARCH and FETCH answers as Gmail writes them, and
the messages with their X-GM-MSGID and X-GM-LABELS) is data; this server only fills in
what depends on the command: which folder, which UIDs, which FETCH items. It logs
every command it receives, so that a test can tell which bodies were downloaded.

It speaks just enough IMAP for the sync: CAPABILITY, LOGIN, LIST, STATUS, EXAMINE
(and SELECT, logged, which the sync must never send), UID SEARCH (UID and SINCE),
UID FETCH, NOOP and LOGOUT; anything else gets Gmail's BAD. X-GM items are refused
like any unknown item when the transcript's capabilities lack X-GM-EXT-1.
"""

import contextlib
import re
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import datetime

from .servers import LOOPBACK, Server

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|\((?:[^()]|\([^()]*\))*\)|[^\s()]+')
_INTERNALDATE = "%d-%b-%Y %H:%M:%S %z"
GMAIL_EXTENSION = "X-GM-EXT-1"


def _unquote(token):
    text = token.decode("utf-8", "replace")
    if text.startswith('"') and text.endswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expand_uid_set(text, highest):
    """The UIDs of an IMAP sequence set (``1:3,7,9:*``), ``*`` being ``highest``."""
    uids = set()
    for part in text.split(","):
        first, _colon, last = part.partition(":")
        low = highest if first == "*" else int(first)
        high = low if not last else highest if last == "*" else int(last)
        uids.update(range(min(low, high), max(low, high) + 1))
    return uids


@dataclass
class ReplayMessage:
    """A message as the transcript holds it: its body and its attributes, written
    as the recorded server wrote them (``labels`` and ``flags`` are IMAP lists)."""

    raw: bytes
    gm_msgid: str
    labels: str = "()"
    flags: str = "()"
    internaldate: str = "01-Jan-2024 00:00:00 +0000"


@dataclass
class ReplayFolder:
    uidvalidity: int
    # UID -> ReplayMessage, in UID order.
    messages: dict = field(default_factory=dict)
    uidnext: int = 1

    def add(self, uid, message):
        self.messages[uid] = message
        self.uidnext = max(self.uidnext, uid + 1)


@dataclass
class Command:
    """One command the server received: the folder selected then, the line (tag off)."""

    folder: str | None
    line: str

    @property
    def name(self):
        words = self.line.split()
        return " ".join(words[:2]) if words[0].upper() == "UID" else words[0]


class ReplayImapServer(Server):
    """Serve ``transcript`` (see ``test_gmail.GMAIL``) on 127.0.0.1.

    ``folders`` maps each folder's name to a ``ReplayFolder``; ``log`` holds the
    ``Command`` received, ``bodies`` the ``(folder, uid)`` whose BODY[] was sent.
    """

    host = LOOPBACK

    def __init__(self, transcript, folders, login, password):
        self.transcript = transcript
        self.folders = folders
        self.login = login
        self.password = password
        self.log = []
        self.bodies = []
        self.port = None
        self._server = None

    @property
    def gmail(self):
        return GMAIL_EXTENSION in self.transcript["capability_authenticated"].split()

    def start(self):
        replay = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                _Conversation(replay, self.rfile, self.wfile).run()

        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def commands(self, name=None):
        """The command lines received (tags off), those named ``name`` only if given."""
        return [c.line for c in self.log if name is None or c.name.upper() == name.upper()]

    def msgid(self, folder, uid):
        """The X-GM-MSGID of the message ``uid`` of ``folder``."""
        return self.folders[folder].messages[uid].gm_msgid

    def reset_log(self):
        self.log.clear()
        self.bodies.clear()


class _Conversation:
    """One client connection: read a command, answer it from the transcript."""

    def __init__(self, replay, rfile, wfile):
        self.replay = replay
        self.transcript = replay.transcript
        self.rfile = rfile
        self.wfile = wfile
        self.authenticated = False
        self.selected = None

    def send(self, line):
        self.wfile.write((line if isinstance(line, bytes) else line.encode()) + b"\r\n")

    def run(self):
        self.send(self.transcript["greeting"])
        with contextlib.suppress(OSError):
            while line := self.rfile.readline():
                line = line.rstrip(b"\r\n")
                tag, _space, rest = line.partition(b" ")
                if not rest:
                    self.send(b"* " + self.transcript["bad"].encode())
                    continue
                tag = tag.decode("ascii", "replace")
                self.replay.log.append(Command(self.selected, rest.decode("utf-8", "replace")))
                if not self.answer(tag, rest):
                    return

    def answer(self, tag, rest):
        """Answer one command; False once the conversation is over."""
        words = rest.split(None, 1)
        name = words[0].decode("ascii", "replace").upper()
        args = [token for token in _TOKEN.findall(words[1])] if len(words) > 1 else []
        if name == "UID" and args:
            name, args = "UID " + args[0].decode().upper(), args[1:]
        handler = {
            "CAPABILITY": self.capability,
            "LOGIN": self.login,
            "NOOP": self.noop,
            "LOGOUT": self.logout,
        }.get(name)
        if handler is None and self.authenticated:
            handler = {
                "LIST": self.list,
                "STATUS": self.status,
                "EXAMINE": self.examine,
                "SELECT": self.examine,
                "UID SEARCH": self.search,
                "UID FETCH": self.fetch,
            }.get(name)
        if handler is None:
            self.send(f"{tag} {self.transcript['bad']}")
            return True
        return handler(tag, name, args)

    def ok(self, tag, key, **values):
        self.send(f"{tag} " + self.transcript[key].format(**values))
        return True

    def capability(self, tag, _name, _args):
        key = "capability_authenticated" if self.authenticated else "capability"
        self.send(self.transcript[key])
        return self.ok(tag, "capability_ok")

    def login(self, tag, _name, args):
        if [_unquote(arg) for arg in args] != [self.replay.login, self.replay.password]:
            return self.ok(tag, "login_no")
        self.authenticated = True
        return self.ok(tag, "login_ok", login=self.replay.login)

    def noop(self, tag, _name, _args):
        return self.ok(tag, "noop_ok")

    def logout(self, tag, _name, _args):
        self.send(self.transcript["bye"])
        self.ok(tag, "logout_ok")
        return False

    def list(self, tag, _name, _args):
        for line in self.transcript["list"]:
            self.send(line)
        return self.ok(tag, "list_ok")

    def _folder(self, tag, token):
        name = _unquote(token)
        folder = self.replay.folders.get(name)
        if folder is None:
            self.send(f"{tag} {self.transcript['no_folder']}")
        return name, folder

    def status(self, tag, _name, args):
        name, folder = self._folder(tag, args[0])
        if folder is None:
            return True
        values = {
            "MESSAGES": len(folder.messages),
            "UIDNEXT": folder.uidnext,
            "UIDVALIDITY": folder.uidvalidity,
        }
        items = args[1].decode().strip("()").upper().split()
        answer = " ".join(f"{item} {values[item]}" for item in items if item in values)
        self.send(self.transcript["status"].format(mailbox=_quote(name), items=answer))
        return self.ok(tag, "status_ok")

    def examine(self, tag, name, args):
        mailbox, folder = self._folder(tag, args[0])
        if folder is None:
            return True
        self.selected = mailbox
        values = {
            "uidvalidity": folder.uidvalidity,
            "uidnext": folder.uidnext,
            "exists": len(folder.messages),
        }
        for line in self.transcript["examine"]:
            self.send(line.format(**values))
        key = "examine_ok" if name == "EXAMINE" else "select_ok"
        return self.ok(tag, key, mailbox=mailbox)

    def _messages(self):
        """(sequence number, uid, message) of the selected folder."""
        folder = self.replay.folders[self.selected]
        return [(seq, uid, folder.messages[uid]) for seq, uid in enumerate(folder.messages, 1)]

    def search(self, tag, _name, args):
        if self.selected is None:
            return self.ok(tag, "bad")
        messages = self._messages()
        highest = max((uid for _seq, uid, _message in messages), default=0)
        words = [_unquote(arg) for arg in args]
        wanted = {uid for _seq, uid, _message in messages}
        index = 0
        while index < len(words):
            word = words[index].upper()
            if word == "UID":
                wanted &= expand_uid_set(words[index + 1], highest)
                index += 2
            elif word == "SINCE":
                since = datetime.strptime(words[index + 1], "%d-%b-%Y").date()
                wanted &= {
                    uid
                    for _seq, uid, message in messages
                    if datetime.strptime(message.internaldate, _INTERNALDATE).date() >= since
                }
                index += 2
            else:
                return self.ok(tag, "bad")
        self.send(self.transcript["search"].format(uids="".join(f" {u}" for u in sorted(wanted))))
        return self.ok(tag, "search_ok")

    def fetch(self, tag, _name, args):
        if self.selected is None or len(args) < 2:
            return self.ok(tag, "bad")
        items = args[1].decode().strip("()").upper().split()
        known = {"UID", "FLAGS", "INTERNALDATE", "BODY.PEEK[]", "BODY[]"}
        if self.replay.gmail:
            known |= {"X-GM-MSGID", "X-GM-LABELS"}
        if not set(items) <= known:
            return self.ok(tag, "bad")
        messages = self._messages()
        highest = max((uid for _seq, uid, _message in messages), default=0)
        wanted = expand_uid_set(args[0].decode(), highest)
        for seq, uid, message in messages:
            if uid in wanted:
                self._fetch_one(seq, uid, message, items)
        return self.ok(tag, "fetch_ok")

    def _fetch_one(self, seq, uid, message, items):
        # In the order Gmail writes them; the UID always (RFC 3501, UID FETCH).
        parts = []
        if "X-GM-MSGID" in items:
            parts.append(f"X-GM-MSGID {message.gm_msgid}")
        parts.append(f"UID {uid}")
        if "X-GM-LABELS" in items:
            parts.append(f"X-GM-LABELS {message.labels}")
        if "FLAGS" in items:
            parts.append(f"FLAGS {message.flags}")
        if "INTERNALDATE" in items:
            parts.append(f'INTERNALDATE "{message.internaldate}"')
        head = f"* {seq} FETCH (" + " ".join(parts)
        if "BODY.PEEK[]" in items or "BODY[]" in items:
            self.replay.bodies.append((self.selected, uid))
            self.wfile.write(f"{head} BODY[] {{{len(message.raw)}}}\r\n".encode())
            self.wfile.write(message.raw)
            self.send(")")
        else:
            self.send(head + ")")
