# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import tagged

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestPop3Sync(CrmMailSyncCase):
    def test_pop3_keeps_mail_on_server_and_remembers_uidls(self):
        login, password = self.new_mailbox("pop")
        self.dovecot.seed(login, self.messages(3, seed=20))
        flags_before = self.dovecot.flags(login, "INBOX")
        account = self.create_account(login, password, protocol="pop3")
        self.assertEqual(account.port, self.dovecot.pop3_port)
        folders = self.connect(account)
        self.assertEqual(list(folders), ["INBOX"])
        self.assertEqual(account.state, "connected")

        stats = self.sync(account)
        self.assertEqual(stats["imported"], 3)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 3)
        self.assertTrue(all(emails.location_ids.mapped("pop_uidl")))
        # Nothing deleted, nothing marked read on the server.
        self.assertEqual(self.dovecot.flags(login, "INBOX"), flags_before)

        self.assertEqual(self.sync(account)["imported"], 0)
        self.dovecot.append(login, "INBOX", self.message(subject="Later"))
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 1)
        self.assertEqual(len(self.emails_of(account)), 4)
        self.assertEqual(len(self.dovecot.flags(login, "INBOX")), 4)

    def test_pop3_and_imap_copies_are_one_email(self):
        login, password = self.new_mailbox("both")
        self.dovecot.append(login, "INBOX", self.message(subject="Seen twice"))
        imap = self.create_account(login, password)
        pop = self.create_account(login, password, protocol="pop3", name="pop copy")
        for account in imap | pop:
            self.connect(account)
            self.sync(account)
        email = self.Email.search([("subject", "=", "Seen twice")])
        self.assertEqual(len(email), 1)
        self.assertEqual(email.account_ids, imap | pop)

    def test_pop3_fetch_since_records_skipped_uidls(self):
        login, password = self.new_mailbox("popold")
        self.dovecot.append(login, "INBOX", self.message(subject="Old", date=self.days_ago(40)))
        self.dovecot.append(login, "INBOX", self.message(subject="Recent", date=self.days_ago(2)))
        account = self.create_account(
            login, password, protocol="pop3", fetch_since=self.days_ago(10).date()
        )
        self.connect(account)
        self.sync(account)
        self.assertEqual(self.emails_of(account).mapped("subject"), ["Recent"])
        skipped = self.env["crm.mail.email.location"].search(
            [("account_id", "=", account.id), ("email_id", "=", False)]
        )
        self.assertEqual(len(skipped), 1)
        self.assertTrue(skipped.skip_reason)
        # Neither message is downloaded again.
        self.assertEqual(self.sync(account)["imported"], 0)
