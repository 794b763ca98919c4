# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Gmail stores each message once: INBOX, a folder per label and All Mail show it.

No Gmail server runs here: ``gmail_replay.ReplayImapServer`` answers with the
responses recorded below, in Gmail's own forms (Google documents them at
https://developers.google.com/gmail/imap/imap-extensions), and logs the commands it
receives. Servers without Gmail's extension are the real Dovecot of the other tests.
"""

import imaplib
import poplib
from datetime import datetime
from unittest.mock import patch

from imapclient.response_parser import parse_fetch_response

from odoo.tests import tagged

from ..lib.batch import BatchItem
from ..lib.imap_client import ImapSession, gmail_identity
from ..lib.session import FolderCursor
from . import mail_corpus
from .common import CrmMailSyncCase
from .gmail_replay import ReplayFolder, ReplayImapServer, ReplayMessage

LOGIN = "crm.gmail.test@gmail.com"
PASSWORD = "abcdefghijklmnop"  # an app password's form

# The recorded responses: Gmail's greeting, capabilities, folder list and status
# lines; the server fills in the folder, the counts and the UIDs.
GMAIL = {
    "greeting": "* OK Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0",
    "capability": "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN "
    "X-GM-EXT-1 XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN "
    "AUTH=OAUTHBEARER AUTH=XOAUTH",
    "capability_authenticated": "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID "
    "XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH "
    "UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584",
    "capability_ok": "OK Thats all she wrote! k2if6111336rvb.0",
    "login_ok": "OK {login} authenticated (Success)",
    "login_no": "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
    "noop_ok": "OK Success",
    "list": [
        r'* LIST (\HasNoChildren) "/" "INBOX"',
        r'* LIST (\HasNoChildren) "/" "Customers"',
        r'* LIST (\HasNoChildren) "/" "Factures re&AOc-ues"',
        r'* LIST (\HasChildren \Noselect) "/" "[Gmail]"',
        r'* LIST (\All \HasNoChildren) "/" "[Gmail]/All Mail"',
        r'* LIST (\Drafts \HasNoChildren) "/" "[Gmail]/Drafts"',
        r'* LIST (\HasNoChildren \Important) "/" "[Gmail]/Important"',
        r'* LIST (\HasNoChildren \Sent) "/" "[Gmail]/Sent Mail"',
        r'* LIST (\HasNoChildren \Junk) "/" "[Gmail]/Spam"',
        r'* LIST (\Flagged \HasNoChildren) "/" "[Gmail]/Starred"',
        r'* LIST (\HasNoChildren \Trash) "/" "[Gmail]/Trash"',
    ],
    "list_ok": "OK Success",
    "status": "* STATUS {mailbox} ({items})",
    "status_ok": "OK Success",
    "examine": [
        r"* FLAGS (\Answered \Flagged \Draft \Deleted \Seen $NotPhishing $Phishing)",
        "* OK [PERMANENTFLAGS ()] Flags permitted.",
        "* OK [UIDVALIDITY {uidvalidity}] UIDs valid.",
        "* {exists} EXISTS",
        "* 0 RECENT",
        "* OK [UIDNEXT {uidnext}] Predicted next UID.",
        "* OK [HIGHESTMODSEQ 4399817]",
    ],
    "examine_ok": "OK [READ-ONLY] {mailbox} selected. (Success)",
    "select_ok": "OK [READ-WRITE] {mailbox} selected. (Success)",
    "search": "* SEARCH{uids}",
    "search_ok": "OK SEARCH completed (Success)",
    "fetch_ok": "OK Success",
    "no_folder": "NO [NONEXISTENT] Unknown Mailbox: Folder doesn't exist (Failure)",
    "bye": "* BYE LOGOUT Requested",
    "logout_ok": "OK 73 good day (Success)",
    "bad": "BAD Could not parse command",
}
# The same server without Gmail's extension: it must be treated like any other.
WITHOUT_EXTENSION = dict(
    GMAIL,
    capability=GMAIL["capability"].replace(" X-GM-EXT-1", ""),
    capability_authenticated=GMAIL["capability_authenticated"].replace(" X-GM-EXT-1", ""),
)

# FETCH answers as Gmail writes them: Google's documented forms (labels as atoms,
# \Inbox unquoted) and the quoted forms Gmail sends today, a label in modified UTF-7,
# no label at all, and the largest X-GM-MSGID (64 bits, unsigned).
RECORDED_FETCH = [
    rb'1 (X-GM-MSGID 1278455344230334865 UID 4 X-GM-LABELS ("\\Inbox" "\\Sent" '
    rb'Important "Muy Importante") FLAGS (\Seen \Recent))',
    rb'2 (X-GM-LABELS (\Inbox \Sent Important "Muy Importante") UID 5 '
    rb"X-GM-MSGID 1278455344230334866)",
    rb"3 (UID 6 X-GM-MSGID 1278455344230334867 X-GM-LABELS ())",
    rb'4 (UID 7 X-GM-MSGID 18446744073709551615 X-GM-LABELS (&AOk-t&AOk- "[Gmail]/Starred"))',
    rb"5 (UID 8 FLAGS (\Seen))",
]

M1, M2, M3, M4 = (
    "1278455344230334865",
    "1278455344230334866",
    "1278455344230334867",
    "1278455344230334870",
)


def recorded_messages():
    """The recorded messages by X-GM-MSGID: their labels and flags as Gmail wrote them.

    M3 was sent from the mailbox through an alias (Gmail labels it \\Sent); M4 was
    archived: only All Mail shows it.
    """

    def raw(number, sender, subject):
        return mail_corpus.simple_message(
            message_id=f"<gmail-replay-{number}@mail.example.com>",
            subject=subject,
            sender=sender,
            to=LOGIN,
            body=f"Message {number} of the recorded mailbox.",
            date=datetime(2024, 3, number, 9, 15),
        )

    return {
        M1: ReplayMessage(
            raw(1, "Anna Nowak <anna@customer.example>", "Order 1024"),
            M1,
            labels=r'("\\Important" "\\Inbox" Customers)',
            flags=r"(\Seen)",
            internaldate="01-Mar-2024 09:15:02 +0000",
        ),
        M2: ReplayMessage(
            raw(2, "Jean Dubois <jean@customer.example>", "Delivery"),
            M2,
            labels=r'("\\Inbox" Customers "Muy Importante")',
            internaldate="02-Mar-2024 09:15:02 +0000",
        ),
        M3: ReplayMessage(
            raw(3, "Sales <sales@alias.example>", "Re: Delivery"),
            M3,
            labels=r'("\\Inbox" "\\Sent" Customers)',
            flags=r"(\Seen)",
            internaldate="03-Mar-2024 09:15:02 +0000",
        ),
        M4: ReplayMessage(
            raw(4, "Newsletter <news@vendor.example>", "Archived news"),
            M4,
            labels="()",
            flags=r"(\Seen)",
            internaldate="04-Mar-2024 09:15:02 +0000",
        ),
    }


def recorded_folders(archived=False):
    """The folders of the recorded mailbox: INBOX, the label Customers and All Mail
    show the same three messages, under other UIDs in each (as Gmail numbers them).

    :param archived: All Mail also shows M4, which no label holds
    """
    messages = recorded_messages()
    folders = {
        "INBOX": ReplayFolder(uidvalidity=1),
        "Customers": ReplayFolder(uidvalidity=7),
        "Factures re&AOc-ues": ReplayFolder(uidvalidity=8),
        "[Gmail]/All Mail": ReplayFolder(uidvalidity=11),
        "[Gmail]/Drafts": ReplayFolder(uidvalidity=5),
        "[Gmail]/Important": ReplayFolder(uidvalidity=10),
        "[Gmail]/Sent Mail": ReplayFolder(uidvalidity=9),
        "[Gmail]/Spam": ReplayFolder(uidvalidity=3),
        "[Gmail]/Starred": ReplayFolder(uidvalidity=4),
        "[Gmail]/Trash": ReplayFolder(uidvalidity=6),
    }
    for uid, msgid in ((5, M1), (6, M2), (9, M3)):
        folders["INBOX"].add(uid, messages[msgid])
    for uid, msgid in ((1, M1), (2, M2), (3, M3)):
        folders["Customers"].add(uid, messages[msgid])
    for uid, msgid in ((12, M1), (13, M2), (17, M3)):
        folders["[Gmail]/All Mail"].add(uid, messages[msgid])
    if archived:
        folders["[Gmail]/All Mail"].add(18, messages[M4])
    folders["[Gmail]/Important"].add(2, messages[M1])
    folders["[Gmail]/Sent Mail"].add(4, messages[M3])
    return folders


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestGmail(CrmMailSyncCase):
    maxDiff = None

    def start_replay(self, transcript=None, folders=None):
        server = ReplayImapServer(
            transcript or GMAIL, folders or recorded_folders(), LOGIN, PASSWORD
        )
        server.start()
        self.addCleanup(server.stop)
        return server

    def replay_account(self, server, **vals):
        values = {
            "name": "Gmail",
            "account_type": "group",
            "email": LOGIN,
            "protocol": "imap",
            "host": server.host,
            "port": server.port,
            "security": "none",
            "login": LOGIN,
            "password": PASSWORD,
            "timeout": 10,
        }
        values.update(vals)
        return self.Account.with_user(self.mail_admin).create(values).sudo()

    def sync_only(self, account, names):
        """Tick exactly the folders ``names`` of ``account`` for sync."""
        for folder in account.folder_ids:
            folder.is_synced = folder.name in names
        self.assertEqual(set(account.folder_ids.filtered("is_synced").mapped("name")), set(names))

    @staticmethod
    def by_msgid(emails):
        return {
            email.location_ids[:1].provider_id: email
            for email in emails
            if email.location_ids[:1].provider_id
        }

    # ------------------------------------------------------------------

    def test_recorded_fetch_answers_are_parsed(self):
        answers = parse_fetch_response(RECORDED_FETCH, normalise_times=False, uid_is_key=True)
        identities = {uid: gmail_identity(data) for uid, data in answers.items()}
        self.assertEqual(identities[4].provider_id, "1278455344230334865")
        self.assertEqual(identities[4].labels, ("\\Inbox", "\\Sent", "Important", "Muy Importante"))
        # \Recent belongs to the session, not to the message.
        self.assertEqual(identities[4].flags, ("\\Seen",))
        # Google's documented form: unquoted system labels, items in another order.
        self.assertEqual(identities[5].provider_id, "1278455344230334866")
        self.assertEqual(identities[5].labels, identities[4].labels)
        self.assertEqual(identities[6].labels, ())
        self.assertEqual(identities[7].provider_id, "18446744073709551615")
        self.assertEqual(identities[7].labels, ("été", "[Gmail]/Starred"))
        # An answer without X-GM-MSGID (any other server) names nothing.
        self.assertIsNone(identities[8])

    def test_session_names_messages_before_fetching_bodies(self):
        server = self.start_replay()
        session = ImapSession(server.host, server.port, "none", LOGIN, PASSWORD, timeout=10)
        with session:
            self.assertTrue(session.gmail_extension)
            scan = session.scan(FolderCursor(name="INBOX"))
            self.assertEqual(scan.ids, [5, 6, 9])
            identities = session.identify(scan.ids)
            self.assertEqual(server.bodies, [])
            self.assertEqual(
                server.commands("UID FETCH"), ["UID FETCH 5:6,9 (UID FLAGS X-GM-MSGID X-GM-LABELS)"]
            )
            self.assertEqual(
                {uid: i.provider_id for uid, i in identities.items()}, {5: M1, 6: M2, 9: M3}
            )
            self.assertEqual(identities[9].labels, ("\\Inbox", "\\Sent", "Customers"))
            self.assertEqual(identities[5].flags, ("\\Seen",))
            (message,) = session.fetch([6])
            self.assertEqual(message.provider_id, M2)
            self.assertEqual(message.labels, ("\\Inbox", "Customers", "Muy Importante"))
            self.assertIn(b"Delivery", message.raw)
        self.assertEqual(server.bodies, [("INBOX", 6)])
        # Read-only: EXAMINE, BODY.PEEK, nothing that changes the mailbox.
        self.assertEqual(server.commands("SELECT") + server.commands("STORE"), [])
        self.assertTrue(server.commands("UID FETCH")[-1].endswith("BODY.PEEK[])"))

    def test_labels_are_locations_of_one_email(self):
        server = self.start_replay()
        account = self.replay_account(server)
        self.connect(account)
        self.sync_only(account, ["INBOX", "Customers", "[Gmail]/All Mail"])
        server.reset_log()

        stats = self.sync(account)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 3)
        # Every copy is a location: three each, one email each.
        self.assertEqual(stats["imported"], 9)
        folders = {folder.name: folder for folder in account.folder_ids}
        for email in emails:
            locations = email.location_ids
            self.assertEqual(
                set(locations.folder_id.mapped("name")),
                {"INBOX", "Customers", "[Gmail]/All Mail"},
            )
            self.assertEqual(len(set(locations.mapped("provider_id"))), 1)
        by_msgid = self.by_msgid(emails)
        self.assertEqual(set(by_msgid), {M1, M2, M3})
        self.assertEqual(
            sorted(by_msgid[M2].location_ids.mapped("uid")), [2, 6, 13], "UIDs of each folder"
        )
        self.assertEqual(
            set(by_msgid[M2].location_ids.mapped("provider_labels")),
            {"\\Inbox, Customers, Muy Importante"},
        )
        self.assertEqual(
            by_msgid[M1]
            .location_ids.filtered(lambda loc: loc.folder_id == folders["INBOX"])
            .server_flags,
            "\\Seen",
        )
        # The body of each message was downloaded once, from the first folder synced;
        # the other two only named their messages.
        self.assertEqual(len(server.bodies), 3)
        self.assertEqual(sorted(server.msgid(*body) for body in server.bodies), [M1, M2, M3])
        self.assertEqual(len({folder for folder, _uid in server.bodies}), 1)
        fetches = server.commands("UID FETCH")
        self.assertEqual(len(fetches), 4)
        self.assertEqual(
            set(fetches[:1] + fetches[2:]),
            {
                "UID FETCH 1:3 (UID FLAGS X-GM-MSGID X-GM-LABELS)",
                "UID FETCH 5:6,9 (UID FLAGS X-GM-MSGID X-GM-LABELS)",
                "UID FETCH 12:13,17 (UID FLAGS X-GM-MSGID X-GM-LABELS)",
            },
        )
        self.assertTrue(
            fetches[1].endswith(" (UID FLAGS INTERNALDATE X-GM-MSGID X-GM-LABELS BODY.PEEK[])")
        )
        self.assertEqual(server.commands("SELECT") + server.commands("STORE"), [])
        # Gmail's \Sent label makes the mail sent through an alias outgoing.
        self.assertEqual(by_msgid[M3].direction, "outgoing")
        self.assertEqual(by_msgid[M1].direction, "incoming")

    def test_second_sync_downloads_nothing_and_new_mail_once(self):
        folders = recorded_folders()
        server = self.start_replay(folders=folders)
        account = self.replay_account(server)
        self.connect(account)
        self.sync_only(account, ["INBOX", "Customers", "[Gmail]/All Mail"])
        self.sync(account)
        self.assertEqual(len(server.bodies), 3)

        server.reset_log()
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 0)
        self.assertEqual(server.bodies, [])
        self.assertEqual(server.commands("UID FETCH"), [])
        self.assertEqual(len(server.commands("STATUS")), 3)

        # New mail: Gmail shows it in INBOX and in All Mail.
        new = recorded_messages()[M4]
        folders["INBOX"].add(10, new)
        folders["[Gmail]/All Mail"].add(18, new)
        server.reset_log()
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 2)
        self.assertEqual(server.bodies, [("INBOX", 10)])
        email = self.by_msgid(self.emails_of(account))[M4]
        self.assertEqual(
            set(email.location_ids.folder_id.mapped("name")), {"INBOX", "[Gmail]/All Mail"}
        )
        self.assertEqual(len(self.emails_of(account)), 4)

    def test_all_mail_is_offered_as_the_complete_archive(self):
        server = self.start_replay(folders=recorded_folders(archived=True))
        account = self.replay_account(server)
        folders = self.connect(account)
        self.assertTrue(account.gmail_extension)
        # The default stays what an administrator expects of any mailbox.
        synced = {name for name, folder in folders.items() if folder.is_synced}
        self.assertEqual(synced, {"INBOX", "[Gmail]/Sent Mail"})
        all_mail = folders["[Gmail]/All Mail"]
        self.assertEqual(all_mail.special_use, "\\All")
        self.assertEqual(account.folder_ids.filtered("is_complete_archive"), all_mail)
        self.assertIn("Complete archive", all_mail.sync_hint)
        self.assertFalse(folders["INBOX"].sync_hint)
        self.assertEqual(folders["Factures re&AOc-ues"].display_label, "Factures reçues")

        all_mail.action_sync_alone()
        self.assertEqual(account.folder_ids.filtered("is_synced"), all_mail)
        server.reset_log()
        stats = self.sync(account)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 4)
        self.assertEqual(stats["imported"], 4)
        self.assertEqual(len(server.bodies), 4)
        by_msgid = self.by_msgid(emails)
        self.assertEqual(set(by_msgid), {M1, M2, M3, M4})
        # The labels are known even though no label folder is synced.
        self.assertEqual(
            by_msgid[M1].location_ids.provider_labels, "\\Important, \\Inbox, Customers"
        )
        self.assertFalse(by_msgid[M4].location_ids.provider_labels)
        self.assertEqual(by_msgid[M3].direction, "outgoing")

    def test_a_known_message_gains_its_location_once(self):
        """A message known by its Gmail id gains a location without its body; a batch
        seen again (a retry) records it once, and still stores what is new in it."""
        account = self.local_account("gmail-known")
        inbox = account.folder_ids
        all_mail = self.local_folder(account, "[Gmail]/All Mail", special_use="\\All")
        first = self.Gateway._import_batch(
            inbox, [BatchItem(raw=self.message(subject="Known"), uid=1, provider_id=M1)]
        )
        email = first.new_emails
        self.assertEqual(all_mail._emails_by_provider_id({M1, M2}), {M1: email.id})

        def known():
            return BatchItem(raw=b"", uid=7, provider_id=M1, known_email_id=email.id)

        batch = self.Gateway._import_batch(all_mail, [known()])
        self.assertEqual(batch.imported, 1)
        self.assertFalse(batch.new_emails)
        self.assertEqual(email.location_ids.folder_id, inbox | all_mail)
        again = self.Gateway._import_batch(
            all_mail, [known(), BatchItem(raw=self.message(subject="New"), uid=8)]
        )
        self.assertEqual(again.imported, 1)
        self.assertFalse(again.failed)
        self.assertEqual(again.new_emails.subject, "New")
        self.assertEqual(sorted(all_mail.location_ids.mapped("uid")), [7, 8])
        self.assertEqual(len(email.location_ids), 2)

    def test_without_the_extension_nothing_changes(self):
        server = self.start_replay(transcript=WITHOUT_EXTENSION)
        account = self.replay_account(server)
        folders = self.connect(account)
        self.assertFalse(account.gmail_extension)
        self.assertFalse(account.folder_ids.filtered("is_complete_archive"))
        self.assertFalse(folders["[Gmail]/All Mail"].sync_hint)
        self.sync_only(account, ["INBOX", "Customers", "[Gmail]/All Mail"])
        server.reset_log()
        # The order the sync takes the folders in (read before: the sync drops the
        # cache, after which they come in the model's order).
        order = account.folder_ids.filtered("is_synced").mapped("name")

        stats = self.sync(account)
        # As before: each copy is downloaded, and Message-IDs make them one email.
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 3)
        self.assertEqual(stats["imported"], 9)
        self.assertEqual(len(server.bodies), 9)
        self.assertFalse(any(emails.location_ids.mapped("provider_id")))
        # The commands of before: per folder (in the order the sync takes them) STATUS,
        # EXAMINE, SEARCH and one FETCH of the bodies; no X-GM item anywhere.
        uids = {"INBOX": "5:6,9", "Customers": "1:3", "[Gmail]/All Mail": "12:13,17"}
        expected = ["CAPABILITY", f'LOGIN {LOGIN} "{PASSWORD}"', "CAPABILITY"]
        for name in order:
            expected += [
                f'STATUS "{name}" (UIDVALIDITY UIDNEXT MESSAGES)',
                f'EXAMINE "{name}"',
                "UID SEARCH UID 1:*",
                f"UID FETCH {uids[name]} (UID FLAGS INTERNALDATE BODY.PEEK[])",
            ]
        self.assertEqual(server.commands(), expected + ["LOGOUT"])

    def test_dovecot_and_pop3_get_the_commands_of_before(self):
        """A server without the extension (Dovecot, IMAP and POP3) receives exactly the
        commands it did before Gmail's extension was supported."""
        imap_sent, pop_sent = [], []
        imap_send, pop_putcmd = imaplib.IMAP4.send, poplib.POP3._putcmd

        def record_imap(imap, data):
            # imapclient sends some commands in pieces, the line end on its own.
            imap_sent.append(data)
            return imap_send(imap, data)

        def record_pop(pop, line):
            pop_sent.append(line)
            return pop_putcmd(pop, line)

        login, password = self.new_mailbox("nogmail")
        self.dovecot.seed(login, self.messages(3, seed=71))
        imap = self.create_account(login, password)
        pop = self.create_account(login, password, protocol="pop3", name="pop")
        self.connect(imap)
        self.connect(pop)
        # The order the sync takes the folders in (read before: the sync drops the
        # cache, after which they come in the model's order).
        order = imap.folder_ids.filtered("is_synced").mapped("name")
        with (
            patch.object(imaplib.IMAP4, "send", record_imap),
            patch.object(poplib.POP3, "_putcmd", record_pop),
        ):
            self.sync(imap)
            self.sync(pop)
        lines = b"".join(imap_sent).decode().split("\r\n")
        imap_commands = [line.split(" ", 1)[1] for line in lines if line]
        self.assertEqual(len(self.emails_of(imap)), 3)
        self.assertFalse(imap.gmail_extension)
        expected = ["CAPABILITY", f'LOGIN {login} "{password}"']
        for name in order:
            expected.append(f'STATUS "{name}" (UIDVALIDITY UIDNEXT MESSAGES)')
            if name == "INBOX":
                expected += [
                    'EXAMINE "INBOX"',
                    "UID SEARCH UID 1:*",
                    "UID FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[])",
                ]
        self.assertEqual(imap_commands, expected + ["LOGOUT"])
        self.assertEqual(
            pop_sent,
            [f"USER {login}", f"PASS {password}", "CAPA", "UIDL"]
            + [f"TOP {number} 2147483647" for number in (1, 2, 3)]
            + ["QUIT"],
        )
