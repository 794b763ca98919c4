# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Read state from the server, a filter's "mark read", and optional two-way flags,
against the real Dovecot; the "second client" is imaplib (``DovecotServer.flags``)."""

import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.crm_mail_sync.lib.imap_client import ImapSession

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestServerReadState(CrmMailSyncCase):
    """One way (always): the server's \\Seen and \\Flagged at import."""

    def email(self, account, subject):
        email = self.emails_of(account).filtered(lambda e: e.subject == subject)
        self.assertEqual(len(email), 1, subject)
        return email

    def personal(self, **vals):
        login, password = self.new_mailbox("flags")
        account = self.create_personal_account(self.mail_user, login, password, **vals)
        self.connect(account)
        return account.sudo(), login

    def read_for(self, email, user):
        return email.with_user(user).is_read

    def test_seen_read_for_owner_only_flagged_starred(self):
        account, login = self.personal()
        self.dovecot.append(login, "INBOX", self.message(subject="Seen"), flags=("\\Seen",))
        self.dovecot.append(login, "INBOX", self.message(subject="Flagged"), flags=("\\Flagged",))
        self.dovecot.append(login, "INBOX", self.message(subject="New"))
        self.sync(account)
        seen, flagged, new = (self.email(account, s) for s in ("Seen", "Flagged", "New"))
        self.assertTrue(self.read_for(seen, self.mail_user))
        self.assertFalse(self.read_for(seen, self.mail_admin), "read for the owner only")
        self.assertFalse(seen.is_marked_read)
        self.assertFalse(self.read_for(flagged, self.mail_user))
        self.assertTrue(flagged.with_user(self.mail_user).is_starred)
        self.assertFalse(flagged.with_user(self.mail_admin).is_starred)
        self.assertFalse(self.read_for(new, self.mail_user))
        self.assertFalse(new.with_user(self.mail_user).is_starred)

    def test_group_mailbox_unread_for_all_then_owner_reads_elsewhere(self):
        login, password = self.new_mailbox("group")
        group = self.create_account(login, password)
        self.connect(group)
        raw = self.message(subject="Shared", to=f"{login}@crm-mail-sync.test")
        self.dovecot.append(login, "INBOX", raw, flags=("\\Seen", "\\Flagged"))
        self.sync(group)
        email = self.email(group, "Shared")
        self.assertFalse(email.read_by_user_ids, "unread for everyone")
        self.assertFalse(email.starred_by_user_ids)
        self.assertFalse(self.read_for(email, self.mail_admin))
        # The same message, read in the user's own mailbox: it gains the owner's state.
        account, own_login = self.personal()
        self.dovecot.append(own_login, "INBOX", raw, flags=("\\Seen",))
        self.sync(account)
        self.assertEqual(self.email(account, "Shared"), email, "stored once")
        self.assertTrue(self.read_for(email, self.mail_user))
        self.assertFalse(self.read_for(email, self.mail_admin))

    def test_filter_mark_read_personal_is_owner_only(self):
        account, login = self.personal()
        self.env["crm.mail.filter"].with_user(self.mail_user).create(
            {
                "name": "weekly",
                "scope": "user",
                "user_id": self.mail_user.id,
                "action": "mark_read",
                "subject_contains": "weekly",
            }
        )
        self.dovecot.append(login, "INBOX", self.message(subject="Weekly digest"))
        self.sync(account)
        email = self.email(account, "Weekly digest")
        self.assertFalse(email.is_marked_read, "not read for everyone")
        self.assertTrue(self.read_for(email, self.mail_user))
        self.assertFalse(self.read_for(email, self.mail_admin))
        self.assertEqual(self.dovecot.flags(login), {1: frozenset()}, "server untouched")

    def test_two_way_off_never_stores(self):
        account, login = self.personal()
        self.assertFalse(account.sync_flags, "off by default")
        self.dovecot.append(login, "INBOX", self.message(subject="Quiet"))
        self.sync(account)
        email = self.email(account, "Quiet").with_user(self.mail_user)
        email.action_mark_read()
        email.action_star()
        self.assertFalse(email.location_ids.filtered("pending_seen"))
        self.sync(account)
        self.assertEqual(self.dovecot.flags(login), {1: frozenset()})


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestTwoWayFlags(CrmMailSyncCase):
    """Two ways (opt-in): Odoo's read/starred state on the server and back."""

    def setUp(self):
        super().setUp()
        login, password = self.new_mailbox("twoway")
        self.login = login
        account = self.create_personal_account(self.mail_user, login, password, sync_flags=True)
        self.connect(account)
        self.account = account.sudo()
        self.uids = [
            self.dovecot.append(login, "INBOX", self.message(subject=f"M{index}"))
            for index in range(3)
        ]
        self.sync(self.account)
        emails = self.emails_of(self.account).with_user(self.mail_user)
        self.emails = [
            emails.filtered(lambda e, i=index: e.subject == f"M{i}") for index in range(3)
        ]

    def server(self):
        return self.dovecot.flags(self.login)

    def test_group_mailbox_refuses_two_way(self):
        login, password = self.new_mailbox("group")
        group = self.create_account(login, password)
        with self.assertRaises(Exception):  # noqa: B017 - ValidationError, via the ORM
            group.sync_flags = True
            group.flush_recordset()

    def test_read_and_star_in_odoo_reach_the_server(self):
        first, second, third = self.emails
        first.action_mark_read()
        second.action_star()
        # Opening an email in the form reads it.
        third.web_read({"body_display": {}})
        self.assertEqual(self.server()[self.uids[0]], frozenset(), "written at the next sync")
        self.sync(self.account)
        flags = self.server()
        self.assertEqual(flags[self.uids[0]], {"\\Seen"})
        self.assertEqual(flags[self.uids[1]], {"\\Flagged"})
        self.assertEqual(flags[self.uids[2]], {"\\Seen"})
        self.assertFalse(self.account.flags_warning)
        self.assertFalse(first.location_ids.pending_seen)
        # Undone in Odoo (a new request: the state read afresh): cleared on the
        # server, nothing else touched.
        self.env.invalidate_all()
        first.action_mark_unread()
        second.action_unstar()
        self.sync(self.account)
        flags = self.server()
        self.assertEqual(flags[self.uids[0]], frozenset())
        self.assertEqual(flags[self.uids[1]], frozenset())
        self.assertEqual(flags[self.uids[2]], {"\\Seen"})
        # The server's change was the owner's own: not read back as a new one.
        self.env.invalidate_all()
        self.assertFalse(first.is_read)
        self.assertTrue(self.emails[2].is_read)

    def test_another_user_reading_does_not_store(self):
        first = self.emails[0].with_user(self.mail_admin)
        first.action_mark_read()
        self.sync(self.account)
        self.assertEqual(self.server()[self.uids[0]], frozenset())

    def _second_client_changes_are_read_back(self):
        with self.dovecot.imap(self.login) as conn:
            conn.select("INBOX")
            conn.uid("STORE", str(self.uids[0]), "+FLAGS", "(\\Seen)")
            conn.uid("STORE", str(self.uids[1]), "+FLAGS", "(\\Flagged)")
        self.sync(self.account)
        first, second, third = self.emails
        self.env.invalidate_all()
        self.assertTrue(first.is_read)
        self.assertTrue(second.is_starred)
        self.assertFalse(third.is_read)
        self.assertFalse(first.with_user(self.mail_admin).is_read, "the owner's state only")
        with self.dovecot.imap(self.login) as conn:
            conn.select("INBOX")
            conn.uid("STORE", str(self.uids[0]), "-FLAGS", "(\\Seen)")
        self.sync(self.account)
        self.env.invalidate_all()
        self.assertFalse(first.is_read)
        self.assertTrue(second.is_starred)

    def test_second_client_changes_condstore(self):
        folder = self.account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertTrue(folder.flags_modseq, "CONDSTORE baseline recorded")
        self._second_client_changes_are_read_back()

    def test_second_client_changes_rescan(self):
        with patch.object(ImapSession, "condstore", False):
            self._second_client_changes_are_read_back()
        folder = self.account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(folder._flag_rescan_limit, 500)

    def test_store_refused_one_way_with_warning(self):
        first = self.emails[0]
        first.action_mark_read()
        base = self.dovecot.maildir(self.login)
        subs = [os.path.join(base, sub) for sub in ("cur", "new", "tmp")]
        modes = {path: os.stat(path).st_mode & 0o777 for path in subs}
        for path in subs:
            os.chmod(path, 0o555)
        try:
            # Written straight into the read-only folder: the sync still imports it.
            self.dovecot.seed(self.login, [self.message(subject="Late")])
            self.sync(self.account)
            self.assertIn("did not accept", self.account.flags_warning or "")
            self.assertEqual(self.account.state, "connected")
            self.assertTrue(self.emails_of(self.account).filtered(lambda e: e.subject == "Late"))
            self.assertEqual(first.location_ids.pending_seen, "add", "nothing lost")
            self.assertEqual(self.server()[self.uids[0]], frozenset())
        finally:
            for path, mode in modes.items():
                os.chmod(path, mode)
        self.sync(self.account)
        self.assertFalse(self.account.flags_warning)
        self.assertEqual(self.server()[self.uids[0]], {"\\Seen"})
