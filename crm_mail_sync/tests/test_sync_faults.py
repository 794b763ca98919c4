# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import time

from odoo import SUPERUSER_ID
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..sync_run import SyncRun
from .common import CrmMailSyncCase
from .cutting_proxy import CuttingProxy

ACCOUNT_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_account"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestSyncFaults(CrmMailSyncCase):
    def test_authentication_failure_is_plain_and_hides_the_password(self):
        login, password = self.new_mailbox()
        account = self.create_account(login, "Wrong-Secret-123")
        with self.assertRaises(UserError) as caught:
            self.connect(account)
        message = str(caught.exception)
        self.assertIn("app password", message)
        self.assertNotIn("Wrong-Secret-123", message)

        with mute_logger(ACCOUNT_LOGGER):
            stats = self.sync(account)
        self.assertEqual(stats["failed"], account)
        self.assertEqual(account.state, "error")
        self.assertIn("app password", account.last_error)
        self.assertNotIn("Wrong-Secret-123", account.last_error)

        account.password = password
        self.sync(account)
        self.assertEqual(account.state, "connected")
        self.assertFalse(account.last_error)

    def test_failing_account_backs_off(self):
        login, _password = self.new_mailbox()
        account = self.create_account(login, "wrong")
        with mute_logger(ACCOUNT_LOGGER):
            self.sync(account)
        self.assertEqual(account.failure_count, 1)
        first_wait = account.next_retry_at - account.last_error_at
        with mute_logger(ACCOUNT_LOGGER):
            self.sync(account)
        self.assertEqual(account.failure_count, 2)
        self.assertEqual(account.next_retry_at - account.last_error_at, first_wait * 2)
        # The scheduled action leaves it alone until then (the demo accounts, which
        # have no server in tests, fail on their own).
        with mute_logger(ACCOUNT_LOGGER):
            stats = self.Account._cron_sync()
            self.assertNotIn(account, stats["failed"] | stats["incomplete"])
            self.assertEqual(account.failure_count, 2)
            for _attempt in range(10):
                account._record_error("still failing")
        self.assertEqual((account.next_retry_at - account.last_error_at).total_seconds(), 6 * 3600)

    def test_connection_refused_records_error(self):
        login, password = self.new_mailbox()
        with CuttingProxy(self.dovecot.host, self.dovecot.imap_port) as proxy:
            port = proxy.port
        account = self.create_account(login, password, port=port)
        with mute_logger(ACCOUNT_LOGGER):
            self.sync(account)
        self.assertEqual(account.state, "error")
        self.assertTrue(account.last_error)

    def test_connection_dropped_mid_fetch_resumes_without_loss(self):
        login, password = self.new_mailbox()
        # Equal-sized messages: the cut lands inside the third batch whatever order
        # the server numbers them in.
        raws = self.messages(30, seed=30, size=3000)
        self.dovecot.seed(login, raws)
        with CuttingProxy(self.dovecot.host, self.dovecot.imap_port) as proxy:
            account = self.create_account(login, password, port=proxy.port, batch_size=10)
            self.connect(account)
            # Let the first two batches through, then cut the connection inside the
            # third FETCH response.
            size_of_two_batches = sum(len(raw) for raw in raws[:20])
            proxy.cut_after_bytes = proxy.bytes_down + size_of_two_batches + 6000
            with mute_logger(ACCOUNT_LOGGER):
                stats = self.sync(account)
            self.assertEqual(account.state, "error")
            self.assertTrue(stats["failed"])
            inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
            imported = len(self.emails_of(account))
            self.assertEqual(imported, 20)
            self.assertEqual(inbox.last_uid, 20)

            proxy.cut_after_bytes = None
            stats = self.sync(account)
        self.assertEqual(account.state, "connected")
        self.assertEqual(stats["imported"], 10)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 30)
        self.assertEqual(len(set(emails.mapped("message_id"))), 30)
        self.assertEqual(inbox.last_uid, 30)

    def test_account_synced_elsewhere_is_not_synced_twice(self):
        # The claim is a row lock between transactions: this test works on a committed
        # account through its own cursors (the test transaction cannot see it).
        registry = self.env.registry
        with registry.cursor() as cr:
            env = self.env(cr=cr, user=SUPERUSER_ID)
            account_id = (
                env["crm.mail.account"]
                .create(
                    {
                        "name": "locked",
                        "account_type": "group",
                        "email": "locked@crm-mail-sync.test",
                        "host": "127.0.0.1",
                        "security": "none",
                        "port": self.dovecot.imap_port,
                        "login": "nobody",
                        "password": "x",
                    }
                )
                .id
            )
            cr.commit()  # pylint: disable=invalid-commit
        try:
            with registry.cursor() as locker, registry.cursor() as worker:
                locker.execute(
                    "SELECT id FROM crm_mail_account WHERE id = %s FOR UPDATE", (account_id,)
                )
                env = self.env(cr=worker, user=SUPERUSER_ID)
                account = env["crm.mail.account"].browse(account_id)
                stats = account._sync(deadline=time.monotonic() + 10, commit=False)
                self.assertEqual(stats["locked"], account)
                admin = env.ref("base.user_admin")
                action = account.with_user(admin).action_sync()
                self.assertEqual(action["params"]["type"], "warning")
                self.assertIn("another process", action["params"]["message"])
                locker.rollback()
                # Released: the next claim succeeds.
                run = SyncRun(account, time.monotonic() + 10, commit=False)
                self.assertTrue(run.claim(account))
                worker.rollback()
        finally:
            with registry.cursor() as cr:
                cr.execute("DELETE FROM crm_mail_account WHERE id = %s", (account_id,))
