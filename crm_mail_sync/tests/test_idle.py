# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""IMAP IDLE: new mail announced by the real server is imported within seconds."""

import threading
import time

from odoo.tests import tagged

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestImapIdle(CrmMailSyncCase):
    def deliver_later(self, login, subject, delay=0.5):
        def deliver():
            time.sleep(delay)
            self.dovecot.append(login, "INBOX", self.message(subject=subject))

        thread = threading.Thread(target=deliver)
        thread.start()
        self.addCleanup(thread.join)

    def test_idle_wakes_up_on_new_mail_and_times_out_without(self):
        login, password = self.new_mailbox("idle")
        account = self.create_account(login, password, use_idle=True)
        self.connect(account)
        self.assertEqual(account._idle_folders(), {account: ["INBOX", "Sent"]})
        with account._open_session() as session:
            start = time.monotonic()
            self.assertFalse(session.idle("INBOX", 1))
            self.assertGreaterEqual(time.monotonic() - start, 0.9)
            self.deliver_later(login, "Announced by IDLE")
            start = time.monotonic()
            self.assertTrue(session.idle("INBOX", 20))
            self.assertLess(time.monotonic() - start, 10, "woken by the server, not the timeout")
            # The session is usable again after DONE.
            self.assertEqual(session.status("INBOX").messages, 1)
        self.sync(account)
        self.assertTrue(self.Email.search([("subject", "=", "Announced by IDLE")]))
        account.use_idle = False
        self.assertEqual(account._idle_folders(), {})

    def test_listener_imports_as_soon_as_mail_arrives(self):
        """The scheduled listener, for real: one thread per account, each with its own
        cursors (in tests, Odoo hands threads cursors on the test's transaction)."""
        login, password = self.new_mailbox("idlecron")
        account = self.create_account(login, password, use_idle=True)
        self.connect(account)
        account.live_since = account._initial_live_since()
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_time_budget", 6)
        self.deliver_later(login, "Imported in real time", delay=1.5)
        start = time.monotonic()
        listener = self.Account._cron_idle()
        elapsed = time.monotonic() - start
        self.assertEqual(listener.peak, 2, "INBOX and Sent")
        self.assertLess(elapsed, 30, "the listener stops after its time budget")
        self.env.invalidate_all()
        email = self.Email.search([("subject", "=", "Imported in real time")])
        self.assertEqual(len(email), 1)
        self.assertEqual(email.account_ids, account)
