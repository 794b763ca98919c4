# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The faults of a real mail server, one test each, at the account level.

Each test seeds a mailbox, syncs through the fault, checks that the account shows a
clear error, lifts the fault on the server's side (the account's settings do not
change) and syncs again: the account recovers by itself, and every message on the
server is stored exactly once. Each test logs one ``FAULT-REPORT`` line that
``scripts/fault-report`` turns into a table.
"""

import email
import logging
import time
from email import policy

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CrmMailSyncCase
from .cutting_proxy import CuttingProxy

ACCOUNT_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_account"
_report = logging.getLogger("odoo.addons.crm_mail_sync.fault_report")


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFaultRecovery(CrmMailSyncCase):
    def seeded(self, count=12, folder="INBOX"):
        login, password = self.new_mailbox("fault")
        raws = self.messages(count, seed=count)
        self.dovecot.seed(login, raws, folder=folder)
        return login, password, raws

    def check_and_report(self, fault, outcome, account, raws):
        """Compare the archive with the server's messages; log the report line."""
        expected = [
            email.message_from_bytes(raw, policy=policy.compat32)["Message-ID"] for raw in raws
        ]
        stored = self.emails_of(account).mapped("message_id")
        lost = len(set(expected) - set(stored))
        duplicated = len(stored) - len(set(stored))
        outcome = outcome.replace("|", "/").replace("\n", " ")
        _report.info("FAULT-REPORT|%s|%s|%d|%d", fault, outcome, lost, duplicated)
        self.assertEqual(lost, 0, f"{fault}: messages lost")
        self.assertEqual(duplicated, 0, f"{fault}: messages stored twice")
        self.assertEqual(len(stored), len(expected))

    def fail_then_recover(self, account, expected_error):
        with mute_logger(ACCOUNT_LOGGER):
            stats = self.sync(account)
        self.assertEqual(stats["failed"], account)
        self.assertEqual(account.state, "error")
        self.assertRegex(account.last_error, expected_error)
        self.assertTrue(account.last_error_advice)
        self.assertEqual(account.failure_count, 1)
        self.assertTrue(account.next_retry_at, "a failing account backs off")
        return account.last_error

    def recovered(self, account):
        stats = self.sync(account)
        self.assertFalse(stats["failed"])
        self.assertEqual(account.state, "connected")
        self.assertFalse(account.last_error)
        self.assertEqual(account.failure_count, 0)
        self.assertFalse(account.next_retry_at)

    def test_connection_refused(self):
        login, password, raws = self.seeded()
        proxy = CuttingProxy(self.dovecot.host, self.dovecot.imap_port).start()
        self.addCleanup(proxy.stop)
        account = self.create_account(login, password, port=proxy.port)
        self.connect(account)
        port = proxy.port
        proxy.stop()  # the server goes away: connections are refused
        time.sleep(0.5)  # the listener closes once its pending accept() times out
        self.fail_then_recover(account, "refused the connection")
        proxy.start(port=port)  # and comes back
        self.recovered(account)
        self.check_and_report(
            "Connection refused",
            "error shown; recovered",
            account,
            raws,
        )

    def test_tls_handshake_failure(self):
        login, password, raws = self.seeded()
        # The port answers in plain text where TLS is expected (a misconfigured server).
        proxy = CuttingProxy(self.dovecot.host, self.dovecot.imap_port).start()
        self.addCleanup(proxy.stop)
        account = self.create_account(
            login, password, port=proxy.port, security="ssl", verify_tls=False
        )
        self.fail_then_recover(account, "TLS failed")
        proxy.target = (self.dovecot.host, self.dovecot.imaps_port)  # TLS is back
        self.recovered(account)
        self.check_and_report(
            "TLS handshake failure",
            "error shown; recovered",
            account,
            raws,
        )

    def test_login_refused(self):
        login, password, raws = self.seeded()
        account = self.create_account(login, password)
        self.dovecot.add_user(login, "changed-on-the-server")
        time.sleep(1.1)  # Dovecot re-reads a changed passwd file at most once a second
        error = self.fail_then_recover(account, "(?i)refused the login")
        self.assertNotIn(password, error)
        self.dovecot.add_user(login, password)
        time.sleep(1.1)
        self.recovered(account)
        self.check_and_report("Login refused", "error: login refused; recovered", account, raws)

    def test_connection_dropped_mid_fetch(self):
        login, password, _raws = self.seeded(0)
        raws = self.messages(30, seed=31, size=3000)
        self.dovecot.seed(login, raws)
        proxy = CuttingProxy(self.dovecot.host, self.dovecot.imap_port).start()
        self.addCleanup(proxy.stop)
        account = self.create_account(login, password, port=proxy.port, batch_size=10)
        self.connect(account)
        proxy.cut_after_bytes = proxy.bytes_down + sum(len(raw) for raw in raws[:20]) + 6000
        self.fail_then_recover(account, ".")
        self.assertEqual(len(self.emails_of(account)), 20, "the committed batches stay")
        proxy.cut_after_bytes = None
        self.recovered(account)
        self.check_and_report(
            "Connection cut mid-FETCH", "2 batches kept; the rest on the next run", account, raws
        )

    def test_slow_server_times_out(self):
        login, password, raws = self.seeded()
        proxy = CuttingProxy(self.dovecot.host, self.dovecot.imap_port).start()
        self.addCleanup(proxy.stop)
        account = self.create_account(login, password, port=proxy.port, timeout=1)
        self.connect(account)
        proxy.delay = 3  # every chunk from the server waits 3 s: longer than the timeout
        start = time.monotonic()
        self.fail_then_recover(account, "did not answer within 1 second")
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 10, "the run gives up instead of hanging")
        proxy.delay = 0
        self.recovered(account)
        self.check_and_report(
            "Server answers slowly", f"timed out after {elapsed:.1f} s; recovered", account, raws
        )

    def test_uidvalidity_change(self):
        login, password, raws = self.seeded(folder="Archive")
        account = self.create_account(login, password)
        self.connect(account)["Archive"].is_synced = True
        self.sync(account)
        self.dovecot.recreate_folder_new_uidvalidity(login, "Archive")
        self.recovered(account)
        self.check_and_report(
            "UIDVALIDITY change", "folder rescanned, nothing stored twice", account, raws
        )

    def test_folder_deleted_then_back(self):
        login, password, raws = self.seeded(folder="Projects")
        account = self.create_account(login, password)
        folders = self.connect(account)
        folders["Projects"].is_synced = True
        self.dovecot.delete_folder(login, "Projects")
        with mute_logger(ACCOUNT_LOGGER):
            self.sync(account)
        self.assertIn("no longer exists", account.last_error)
        self.assertFalse(folders["Projects"].exists_on_server)
        # The folder comes back (restored from a backup: same mail, new UIDVALIDITY).
        self.dovecot.seed(login, raws, folder="Projects")
        self.connect(account)
        self.assertTrue(folders["Projects"].exists_on_server)
        self.recovered(account)
        self.check_and_report(
            "Folder deleted, then restored", "warning on the account; recovered", account, raws
        )
