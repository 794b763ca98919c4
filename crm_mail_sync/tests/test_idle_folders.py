# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""IMAP IDLE over every synced folder, within the connection limits and within the
time Odoo gives a scheduled job."""

import threading
import time
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import config

from odoo.addons.crm_mail_sync.lib.idle import (
    cron_time_limit,
    listen_budget,
    plan_connections,
)

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestIdleFolders(CrmMailSyncCase):
    def setUp(self):
        super().setUp()
        # Scheduled jobs may run for as long as the listener is given in these tests.
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_time_budget", 8)
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_max_connections", 50)

    def idle_account(self, folders=(), **vals):
        """A near-real-time account whose ``folders`` (besides INBOX) exist and are
        synced; its mail from now on is live."""
        login, password = self.new_mailbox("idlefolders")
        for name in folders:
            self.dovecot.create_folder(login, name)
        account = self.create_account(login, password, use_idle=True, **vals)
        by_name = self.connect(account)
        for name in folders:
            by_name[name].is_synced = True
        account.live_since = account._initial_live_since()
        return account, login

    def deliver_later(self, login, folder, subject, delay):
        """Append a message to ``folder`` from a second IMAP client after ``delay``
        seconds; return the dict that receives the time.monotonic() of delivery."""
        delivered = {}

        def deliver():
            time.sleep(delay)
            self.dovecot.append(login, folder, self.message(subject=subject))
            delivered["at"] = time.monotonic()

        thread = threading.Thread(target=deliver)
        thread.start()
        self.addCleanup(thread.join)
        return delivered

    def imported(self, account, subject):
        self.env.invalidate_all()
        return self.Email.search([("subject", "=", subject), ("account_ids", "in", account.ids)])

    def test_new_mail_in_another_folder_arrives_within_seconds(self):
        account, login = self.idle_account(["Projects"])
        # INBOX first, then the other synced folders (Sent is synced by default).
        self.assertEqual(account._idle_folders(), {account: ["INBOX", "Projects", "Sent"]})
        delivered = self.deliver_later(login, "Projects", "Filed by a server rule", delay=1.5)
        listener = self.Account._cron_idle()
        self.assertEqual(listener.peak, 3, "one IDLE connection per folder")
        self.assertTrue(delivered, "the message was delivered while the listener ran")
        synced = [at for folder, at in listener.synced if folder == "Projects"]
        self.assertTrue(synced, "the server's news on Projects started a sync")
        self.assertLess(synced[0] - delivered["at"], 10, "imported within seconds")
        email = self.imported(account, "Filed by a server rule")
        self.assertEqual(len(email), 1)
        self.assertEqual(email.location_ids.folder_id.name, "Projects")

    def test_two_folders_listened_to_at_once(self):
        account, login = self.idle_account(["Projects"])
        self.deliver_later(login, "Projects", "Into Projects", delay=1)
        self.deliver_later(login, "INBOX", "Into INBOX", delay=2.5)
        listener = self.Account._cron_idle()
        self.assertEqual(listener.opened, 3)
        self.assertEqual({folder for folder, _at in listener.synced}, {"INBOX", "Projects"})
        self.assertEqual(len(self.imported(account, "Into Projects")), 1)
        self.assertEqual(len(self.imported(account, "Into INBOX")), 1)
        # The next run is asked for at once: listening goes on across runs.
        cron = self.env.ref("crm_mail_sync.ir_cron_crm_mail_idle")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))

    def test_connection_limits(self):
        """Per mailbox: INBOX, then the folders where mail arrived most recently; in
        all: every mailbox's first choice, then every one's second..."""
        login, password = self.new_mailbox("idlerank")
        for name in ("Alpha", "Beta", "Zeta"):
            self.dovecot.create_folder(login, name)
        account = self.create_account(login, password, use_idle=True, idle_connection_limit=3)
        by_name = self.connect(account)
        for name in ("Alpha", "Beta", "Zeta"):
            by_name[name].is_synced = True
        # Mail reached Alpha, then Zeta: Zeta's is the more recent arrival.
        self.import_raw(by_name["Alpha"], [self.message(subject="Earlier")])
        self.import_raw(by_name["Zeta"], [self.message(subject="Later")])
        self.assertEqual(account._idle_folders(), {account: ["INBOX", "Zeta", "Alpha"]})
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_time_budget", 5)
        listener = self.Account._cron_idle()
        self.assertEqual((listener.opened, listener.peak), (3, 3))
        self.assertEqual([folder for _account, folder in listener.plan], ["INBOX", "Zeta", "Alpha"])

        other, _login = self.idle_account(["Projects", "Support"])
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_max_connections", 3)
        listener = self.Account._cron_idle()
        self.assertEqual(listener.opened, 3, "the global limit caps the connections")
        plan = [(acc, folder) for acc, folder in listener.plan]
        self.assertEqual(set(plan[:2]), {(account, "INBOX"), (other, "INBOX")})
        self.assertEqual(len(plan), 3)

        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            account.idle_connection_limit = 0

    def test_failed_folder_leaves_the_others_listening(self):
        account, login = self.idle_account(["Projects", "Gone"])
        self.dovecot.delete_folder(login, "Gone")
        self.deliver_later(login, "Projects", "Still heard", delay=1.5)
        listener = self.Account._cron_idle()
        self.assertIn((account, "Gone"), listener.plan)
        self.assertEqual(
            (listener.opened, listener.peak),
            (4, 3),
            "INBOX, Projects and Sent listen; Gone's connection failed and was closed",
        )
        self.assertEqual(len(self.imported(account, "Still heard")), 1)

    def test_time_budget_fits_the_scheduled_job_limit(self):
        # Odoo 18's rules (odoo/service/server.py), threaded server then workers.
        self.assertEqual(cron_time_limit(120, -1, 0), 120)
        self.assertEqual(cron_time_limit(120, 0, 0), 120)
        self.assertEqual(cron_time_limit(120, 300, 0), 300)
        self.assertIsNone(cron_time_limit(0, -1, 0))
        self.assertEqual(cron_time_limit(120, -1, 4), 120)
        self.assertIsNone(cron_time_limit(120, 0, 4))
        self.assertEqual(cron_time_limit(120, 60, 4), 60)
        self.assertEqual(listen_budget(240, 120), 100)
        self.assertEqual(listen_budget(240, None), 240)
        self.assertEqual(listen_budget(60, 120), 60)
        self.assertEqual(listen_budget(240, 120, spent=90), 10)
        self.assertEqual(listen_budget(240, 30), 10)
        self.assertEqual(listen_budget(240, 10), 0)
        self.assertEqual(plan_connections([[1, 2, 3], [4], [5, 6]], 4), [1, 4, 5, 2])
        self.assertEqual(plan_connections([[1, 2], [3]], None), [1, 3, 2])

        # The account model reads Odoo's configuration when the job runs.
        self.env["ir.config_parameter"].set_param("crm_mail_sync.idle_time_budget", 240)
        Account = self.Account
        limits = {"limit_time_real": 120, "limit_time_real_cron": -1, "workers": 0}
        with patch.dict(config.options, limits):
            self.assertEqual(Account._idle_time_budget(), 100)
            # Jobs run before it in the same round of a cron thread count too.
            thread = threading.current_thread()
            thread.type, thread.start_time = "cron", time.time() - 50
            try:
                self.assertAlmostEqual(Account._idle_time_budget(), 50, delta=2)
            finally:
                del thread.type, thread.start_time
        with patch.dict(config.options, dict(limits, limit_time_real_cron=60)):
            self.assertEqual(Account._idle_time_budget(), 40)
        with patch.dict(config.options, dict(limits, limit_time_real_cron=0, workers=2)):
            self.assertEqual(Account._idle_time_budget(), 240)
        with patch.dict(config.options, dict(limits, limit_time_real_cron=22)):
            # Too short to listen: nothing is opened, and no run is asked for.
            self.idle_account()
            listener = Account._cron_idle()
            self.assertEqual(listener.opened, 0)
