# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import date, timedelta
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..sync_run import SyncRun
from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestImapSync(CrmMailSyncCase):
    def test_initial_sync_defaults_and_counters(self):
        login, password = self.new_mailbox()
        inbox = self.messages(7, seed=1)
        sent = self.messages(2, seed=2)
        self.dovecot.seed(login, inbox, folder="INBOX")
        self.dovecot.seed(login, sent, folder="Sent")
        self.dovecot.seed(login, self.messages(3, seed=3), folder="Trash")
        account = self.create_account(login, password)
        self.assertEqual(account.state, "not_configured")

        folders = self.connect(account)
        self.assertEqual(account.state, "connected")
        self.assertTrue(account.live_since)
        self.assertIn("Trash", folders)
        synced = {name for name, folder in folders.items() if folder.is_synced}
        self.assertEqual(synced, {"INBOX", "Sent"})
        self.assertTrue(folders["Sent"].is_sent)
        self.assertEqual(folders["Sent"].special_use, "\\Sent")

        stats = self.sync(account)
        self.assertEqual(stats["imported"], 9)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 9)
        self.assertEqual(account.email_count, 9)
        self.assertTrue(account.last_sync_at)
        self.assertFalse(account.last_error)
        self.assertEqual(sorted(emails.mapped("direction")), ["incoming"] * 7 + ["outgoing"] * 2)
        self.assertEqual(folders["INBOX"].last_uid, 7)
        self.assertEqual(folders["Sent"].last_uid, 2)
        self.assertTrue(folders["INBOX"].uidvalidity > 0)
        self.assertEqual(folders["INBOX"].server_message_count, 7)
        self.assertFalse(folders["Trash"].location_ids)
        # Every stored email carries its parsed headers and a location.
        for email in emails:
            self.assertTrue(email.message_id.startswith("<"))
            self.assertTrue(email.from_address)
            self.assertEqual(len(email.location_ids), 1)

    def test_incremental_sync_and_nothing_new(self):
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(5, seed=4))
        account = self.create_account(login, password)
        self.connect(account)
        self.assertEqual(self.sync(account)["imported"], 5)

        for raw in self.messages(2, seed=5):
            self.dovecot.append(login, "INBOX", raw)
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 2)
        self.assertEqual(len(self.emails_of(account)), 7)
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 7)

        # Nothing new: one STATUS per synced folder (INBOX and Sent), nothing else.
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 0)
        self.assertEqual(stats["commands"], 2)
        self.assertEqual(len(self.emails_of(account)), 7)

    def test_sync_never_changes_server_flags(self):
        login, password = self.new_mailbox()
        raws = self.messages(6, seed=6)
        self.dovecot.seed(login, raws[:4], seen=False)
        self.dovecot.seed(login, raws[4:], seen=True)
        before = self.dovecot.flags(login, "INBOX")
        account = self.create_account(login, password)
        self.connect(account)
        self.sync(account)
        self.assertEqual(len(self.emails_of(account)), 6)
        self.assertEqual(self.dovecot.flags(login, "INBOX"), before)
        unseen = [uid for uid, flags in before.items() if "\\Seen" not in flags]
        self.assertEqual(len(unseen), 4)

    def test_uidvalidity_change_rescans_without_duplicates(self):
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(4, seed=7), folder="Archive")
        account = self.create_account(login, password)
        folders = self.connect(account)
        folders["Archive"].is_synced = True
        self.sync(account)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 4)
        old_validity = folders["Archive"].uidvalidity

        self.dovecot.recreate_folder_new_uidvalidity(login, "Archive")
        stats = self.sync(account)
        self.assertNotEqual(folders["Archive"].uidvalidity, old_validity)
        self.assertEqual(self.emails_of(account), emails)
        self.assertEqual(len(folders["Archive"].location_ids), 4)
        self.assertEqual(stats["imported"], 4)  # four new locations, no new email
        self.assertEqual(self.Email.search_count([("id", "in", emails.ids)]), 4)

    def sync_in_two_folders(self, raw):
        """Sync a new mailbox holding ``raw`` in INBOX and in Archive; its emails."""
        login, password = self.new_mailbox()
        self.dovecot.append(login, "INBOX", raw)
        self.dovecot.append(login, "Archive", raw)
        account = self.create_account(login, password)
        folders = self.connect(account)
        folders["Archive"].is_synced = True
        self.sync(account)
        return self.emails_of(account)

    def test_same_message_in_two_folders_is_one_email(self):
        email = self.sync_in_two_folders(self.message(subject="Kept twice"))
        self.assertEqual(len(email), 1)
        self.assertEqual(email.subject, "Kept twice")
        self.assertEqual(set(email.location_ids.folder_id.mapped("name")), {"INBOX", "Archive"})

    def test_same_message_in_two_accounts_is_one_email(self):
        raw = self.message(subject="For both teams", to="a@example.org, b@example.org")
        accounts = self.Account
        for name in ("first", "second"):
            login, password = self.new_mailbox(name)
            # Each server delivery adds its own trace headers in front.
            self.dovecot.append(
                login, "INBOX", f"Delivered-To: {login}@example.org\r\n".encode() + raw
            )
            account = self.create_account(login, password)
            self.connect(account)
            self.sync(account)
            accounts |= account
        email = self.Email.search([("subject", "=", "For both teams")])
        self.assertEqual(len(email), 1)
        self.assertEqual(email.account_ids, accounts)
        self.assertEqual(len(email.location_ids), 2)

    def test_forged_message_id_is_a_separate_email(self):
        genuine = self.message(message_id="<shared-id@example.com>", body="Genuine text")
        forged = self.message(message_id="<shared-id@example.com>", body="Forged text")
        login_a, password_a = self.new_mailbox("victim")
        login_b, password_b = self.new_mailbox("attacker")
        self.dovecot.append(login_a, "INBOX", genuine)
        self.dovecot.append(login_b, "INBOX", forged)
        account_a = self.create_account(login_a, password_a)
        account_b = self.create_account(login_b, password_b)
        for account in account_a | account_b:
            self.connect(account)
            self.sync(account)
        emails = self.Email.search([("message_id", "=", "<shared-id@example.com>")])
        self.assertEqual(len(emails), 2)
        email_a = self.emails_of(account_a)
        email_b = self.emails_of(account_b)
        self.assertIn("Genuine", email_a.body_text)
        self.assertIn("Forged", email_b.body_text)
        self.assertEqual(email_a.account_ids, account_a)
        self.assertEqual(email_b.account_ids, account_b)

    def test_message_without_message_id_gets_stable_key(self):
        raw = self.message(message_id=False, subject="No id")
        self.assertNotIn(b"Message-ID", raw)
        email = self.sync_in_two_folders(raw)
        self.assertEqual(len(email), 1)
        self.assertTrue(email.message_id.endswith("@crm-mail-sync.invalid>"))
        self.assertEqual(len(email.location_ids), 2)

    def test_fetch_since_skips_older_mail_for_good(self):
        login, password = self.new_mailbox()
        old = self.message(subject="Old one")
        new = self.message(subject="New one")
        self.dovecot.append(login, "INBOX", old, internal_date=self.days_ago(30))
        self.dovecot.append(login, "INBOX", new, internal_date=self.days_ago(1))
        account = self.create_account(login, password, fetch_since=date.today() - timedelta(days=7))
        self.connect(account)
        self.sync(account)
        self.assertEqual(self.emails_of(account).mapped("subject"), ["New one"])
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 2)
        # The old UID is not searched again.
        self.assertEqual(self.sync(account)["commands"], 2)

    def test_archive_mode_for_mail_older_than_going_live(self):
        login, password = self.new_mailbox()
        self.dovecot.append(
            login, "INBOX", self.message(subject="Archived"), internal_date=self.days_ago(3)
        )
        account = self.create_account(login, password)
        self.connect(account)
        account.live_since = self.days_ago(1)
        self.sync(account)
        self.dovecot.append(login, "INBOX", self.message(subject="Arrived live"))
        self.sync(account)
        modes = {email.subject: email.import_mode for email in self.emails_of(account)}
        self.assertEqual(modes, {"Archived": "archive", "Arrived live": "live"})

    def test_live_window_makes_recent_mail_live(self):
        login, password = self.new_mailbox()
        self.dovecot.append(
            login, "INBOX", self.message(subject="Yesterday"), internal_date=self.days_ago(1)
        )
        self.dovecot.append(
            login, "INBOX", self.message(subject="Last week"), internal_date=self.days_ago(7)
        )
        account = self.create_account(login, password, live_window_hours=48)
        self.connect(account)
        self.sync(account)
        modes = {email.subject: email.import_mode for email in self.emails_of(account)}
        self.assertEqual(modes, {"Yesterday": "live", "Last week": "archive"})

    def test_outgoing_when_sent_from_the_account_address(self):
        login, password = self.new_mailbox()
        account = self.create_account(login, password)
        self.dovecot.append(
            login, "INBOX", self.message(subject="From me", sender=account.email.upper())
        )
        self.dovecot.append(login, "INBOX", self.message(subject="To me"))
        self.connect(account)
        self.sync(account)
        directions = {email.subject: email.direction for email in self.emails_of(account)}
        self.assertEqual(directions, {"From me": "outgoing", "To me": "incoming"})

    def test_batches_and_time_budget(self):
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(25, seed=8))
        account = self.create_account(login, password, batch_size=10)
        self.connect(account)
        # A budget already spent imports nothing and reports the account as incomplete.
        stats = self.sync(account, budget=0)
        self.assertEqual(stats["imported"], 0)
        self.assertEqual(stats["incomplete"], account)
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 25)
        self.assertFalse(stats["incomplete"])
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 25)

    def test_fetch_now_holds_no_batch_in_memory(self):
        # "Fetch now" imports in one transaction, which no commit empties: each batch
        # leaves the ORM's cache once stored, or a long first import would hold every
        # email it made until the request ends.
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(25, seed=12))
        account = self.create_account(login, password, batch_size=10)
        self.connect(account)
        stats = self.sync(account)
        self.assertEqual(stats["imported"], 25)
        emails = self.emails_of(account)
        body = self.Email._fields["body_html"]
        self.assertEqual(len(emails), 25)
        self.assertFalse([email.id for email in emails if self.env.cache.contains(email, body)])
        # Nothing lost on the way: read from the database again.
        self.assertTrue(all(emails.mapped("body_html")))

    def test_long_import_refreshes_planner_statistics(self):
        def archive_rows():
            self.env.cr.execute("SELECT reltuples FROM pg_class WHERE relname = 'crm_mail_email'")
            return self.env.cr.fetchone()[0]

        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(25, seed=13))
        account = self.create_account(login, password, batch_size=10)
        self.connect(account)
        # Below the threshold (5,000 emails, or a fifth of the archive): left to autovacuum.
        before = archive_rows()
        self.assertEqual(self.sync(account)["imported"], 25)
        self.assertEqual(archive_rows(), before)
        # Past it: PostgreSQL learns the archive's size (and plans its lookups by index).
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(25, seed=14))
        account = self.create_account(login, password, batch_size=10)
        self.connect(account)
        with (
            patch.object(SyncRun, "analyze_every", 20),
            patch.object(SyncRun, "_planned_archive_rows", lambda run: 0),
        ):
            self.assertEqual(self.sync(account)["imported"], 25)
        # Analysed after its first 20: the 25 emails of the first account and those 20.
        self.assertGreaterEqual(archive_rows(), 45)

    def test_fetch_now_button_reports(self):
        login, password = self.new_mailbox()
        self.dovecot.seed(login, self.messages(3, seed=9))
        account = self.create_account(login, password)
        self.connect(account)
        action = account.with_user(self.mail_admin).action_sync()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("3", action["params"]["message"])
        self.assertEqual(len(self.emails_of(account)), 3)

    def test_cron_syncs_every_account(self):
        accounts = self.Account
        for seed in (10, 11):
            login, password = self.new_mailbox()
            self.dovecot.seed(login, self.messages(2, seed=seed))
            account = self.create_account(login, password)
            self.connect(account)
            accounts |= account
        # Accounts that cannot connect (the demo ones have no server in tests) only
        # record their error; the others still sync.
        with mute_logger("odoo.addons.crm_mail_sync.models.crm_mail_account"):
            stats = self.Account._cron_sync()
        self.assertFalse(stats["incomplete"] & accounts)
        for account in accounts:
            self.assertEqual(len(self.emails_of(account)), 2)
            self.assertEqual(account.state, "connected")
