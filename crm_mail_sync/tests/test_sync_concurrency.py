# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Several sync workers at once, each with its own database cursor.

The workers are threads with cursors of their own (like Odoo's cron workers) or a
separate OS process, so they commit for real: what they write is invisible to the
test's own transaction. The accounts are therefore set up through committed
cursors, checked through fresh ones, and removed again when the test ends.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from email import message_from_bytes

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import config, mute_logger

from ..sync_run import MESSAGE_LOCK_SPACE, SyncRun
from .common import CrmMailSyncCase

# The whole add-on: the sync run, the import chain and the models below them.
ADDON_LOGGER = "odoo.addons.crm_mail_sync"
WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sync_worker.py")
WAIT = 120  # seconds: an upper bound for anything here, never a pause


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestSyncConcurrency(CrmMailSyncCase):
    def setUp(self):
        super().setUp()
        self.committed_account_ids = []
        self.addCleanup(self._remove_committed)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    @contextmanager
    def worker_env(self):
        """An environment on a new cursor, committed when the block ends."""
        with self.registry.cursor() as cr:
            # Tests run while the test process loads its modules, holding the registry
            # lock: given the registry, the environment need not look it up by name.
            cr.transaction = api.Transaction(self.registry)
            yield api.Environment(cr, SUPERUSER_ID, {})

    def committed_account(self, raws, batch_size=10, extra_folders=None):
        """A group account on a new mailbox holding ``raws``, committed; return its id.

        :param dict extra_folders: folder name -> messages, seeded and synced too
        """
        login, password = self.new_mailbox("conc")
        self.dovecot.seed(login, raws)
        for name, messages in (extra_folders or {}).items():
            self.dovecot.seed(login, messages, folder=name)
        with self.worker_env() as env:
            account = env["crm.mail.account"].create(
                self.account_values(login, password, batch_size=batch_size)
            )
            self.committed_account_ids.append(account.id)
            account.action_test_connection()
            account.folder_ids.filtered(lambda f: f.name in (extra_folders or {})).is_synced = True
            return account.id

    def _remove_committed(self):
        if not self.committed_account_ids:
            return
        with self.worker_env() as env:
            env.cr.execute(
                "SELECT DISTINCT email_id FROM crm_mail_email_location WHERE account_id = ANY(%s)",
                (self.committed_account_ids,),
            )
            env["crm.mail.email"].browse([row[0] for row in env.cr.fetchall()]).unlink()
            env["crm.mail.account"].browse(self.committed_account_ids).exists().unlink()

    def folder_id(self, account_id, name="INBOX"):
        with self.worker_env() as env:
            folders = env["crm.mail.account"].browse(account_id).folder_ids
            return folders.filtered(lambda f: f.name == name).id

    def query(self, sql, params=()):
        """Rows of ``sql`` as committed right now (a fresh cursor, not the test's)."""
        with self.registry.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall()

    def message_locks(self):
        """Advisory locks on Message-IDs still held by any session."""
        return self.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s",
            (MESSAGE_LOCK_SPACE,),
        )[0][0]

    def last_uid(self, folder_id):
        return self.query("SELECT last_uid FROM crm_mail_folder WHERE id = %s", (folder_id,))[0][0]

    def stored(self, account_ids):
        """What the database holds for these accounts, as committed right now."""
        emails = self.query(
            """SELECT e.message_id, count(l.id), count(DISTINCT l.account_id)
                 FROM crm_mail_email e
                 JOIN crm_mail_email_location l ON l.email_id = e.id
                WHERE l.account_id = ANY(%s)
             GROUP BY e.id, e.message_id""",
            (list(account_ids),),
        )
        locations = self.query(
            "SELECT folder_id, uid FROM crm_mail_email_location WHERE account_id = ANY(%s)",
            (list(account_ids),),
        )
        quarantined = self.query(
            "SELECT count(*) FROM crm_mail_quarantine WHERE account_id = ANY(%s)",
            (list(account_ids),),
        )[0][0]
        return {
            "message_ids": [row[0] for row in emails],
            "locations_per_email": {row[1] for row in emails},
            "accounts_per_email": {row[2] for row in emails},
            "locations": len(locations),
            "distinct_locations": len(set(locations)),
            "quarantined": quarantined,
        }

    @staticmethod
    def message_ids(raws):
        return sorted(message_from_bytes(raw)["Message-ID"].strip() for raw in raws)

    def start(self, target, *args):
        """Run ``target`` in a thread of its own; return (thread, outcome dict)."""
        outcome = {}

        def run():
            try:
                outcome["result"] = target(*args)
            except Exception as exc:  # handed to the test thread, which reports it
                outcome["error"] = exc

        thread = threading.Thread(target=run, name="crm_mail_sync_test_worker", daemon=True)
        thread.start()
        return thread, outcome

    def result_of(self, thread, outcome):
        thread.join(WAIT)
        self.assertFalse(thread.is_alive(), "a worker did not finish")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def sync_committing(self, account_id):
        """One worker: its own cursor, one commit per batch, like the scheduled action."""
        with self.worker_env() as env:
            stats = (
                env["crm.mail.account"]
                .browse(account_id)
                ._sync(deadline=time.monotonic() + WAIT, commit=True)
            )
            return {
                "imported": stats["imported"],
                "locked": stats["locked"].ids,
                "failed": stats["failed"].ids,
                "incomplete": stats["incomplete"].ids,
            }

    def wait_for_lock_wait(self, query_start):
        """Wait until some backend waits for a lock while running ``query_start...``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.query(
                """SELECT pid FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'
                      AND ltrim(query) LIKE %s""",
                (query_start + "%",),
            ):
                return True
            time.sleep(0.05)
        return False

    @contextmanager
    def capture_logs(self, name):
        """Collect the messages ``name`` logs from any thread (INFO and up)."""
        messages = []
        handler = logging.Handler(logging.INFO)
        handler.emit = lambda record: messages.append(record.getMessage())
        logger = logging.getLogger(name)
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield messages
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)

    def odoo_options(self):
        """The command-line options that point a child Odoo process at this database."""
        options = [
            f"--addons-path={config['addons_path']}",
            f"--data-dir={config['data_dir']}",
            "--log-level=warn",
        ]
        for key in ("db_host", "db_port", "db_user", "db_password"):
            if config.get(key):
                options.append(f"--{key}={config[key]}")
        return options

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------

    @mute_logger("odoo.sql_db")  # the loser's INSERT fails, and Odoo logs failed queries
    def test_same_message_in_two_accounts_is_stored_once(self):
        raws = self.messages(30, seed=7101)
        first = self.committed_account(raws)
        second = self.committed_account(raws)
        stored, release = threading.Event(), threading.Event()

        def first_worker():
            # Stores every message ("Fetch now": one transaction, no reservation),
            # then keeps its transaction open until the second worker has run into
            # its uncommitted rows.
            with self.worker_env() as env:
                account = env["crm.mail.account"].browse(first)
                stats = account._sync(deadline=time.monotonic() + WAIT, commit=False)
                stored.set()
                release.wait(WAIT)
                return stats["imported"]

        first_thread = self.start(first_worker)
        try:
            self.assertTrue(stored.wait(WAIT), "the first worker did not store its batch")
            with self.capture_logs(ADDON_LOGGER) as logs:
                second_thread = self.start(self.sync_committing, second)
                met = self.wait_for_lock_wait('INSERT INTO "crm_mail_email"')
                release.set()
                self.assertEqual(self.result_of(*first_thread), 30)
                second_result = self.result_of(*second_thread)
        finally:
            release.set()
        self.assertTrue(met, "the second worker never waited for the first one's emails")
        self.assertEqual(
            second_result, {"imported": 30, "locked": [], "failed": [], "incomplete": []}
        )
        # The loser redid its batch in a new transaction and linked its locations.
        self.assertIn("retrying from the last committed batch", "\n".join(logs))
        self.assertEqual(self.message_locks(), 0)

        stored_now = self.stored([first, second])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations_per_email"], {2})
        self.assertEqual(stored_now["accounts_per_email"], {2})
        self.assertEqual(stored_now["quarantined"], 0)

    def test_scheduled_worker_waits_for_the_messages_another_one_is_storing(self):
        raws = self.messages(30, seed=7108)
        first = self.committed_account(raws)
        second = self.committed_account(raws)
        # Hold up the first worker while it holds its Message-IDs: another transaction
        # keeps its INBOX row locked, so the first worker's commit waits. It is rolled
        # back, not committed, so the first worker then goes on without a conflict.
        blocker = self.registry.cursor()
        try:
            blocker.execute(
                "UPDATE crm_mail_folder SET display_label = display_label WHERE id = %s",
                (self.folder_id(first),),
            )
            with self.capture_logs(ADDON_LOGGER) as logs:
                first_thread = self.start(self.sync_committing, first)
                first_held = self.wait_for_lock_wait('UPDATE "crm_mail_folder"')
                second_thread = self.start(self.sync_committing, second)
                # The second worker waits for the Message-IDs, not on uncommitted rows.
                second_waited = self.wait_for_lock_wait("SELECT h, pg_advisory_lock")
                blocker.rollback()
                first_result = self.result_of(*first_thread)
                second_result = self.result_of(*second_thread)
        finally:
            blocker.close()
        self.assertTrue(first_held, "the first worker never reached its commit")
        self.assertTrue(second_waited, "the second worker never waited for the messages")
        for result in (first_result, second_result):
            self.assertEqual(result, {"imported": 30, "locked": [], "failed": [], "incomplete": []})
        # No failed INSERT, no batch done twice: the second worker's new snapshot saw
        # the first one's emails and it only recorded its locations.
        self.assertNotIn("retrying from the last committed batch", "\n".join(logs))
        self.assertEqual(self.message_locks(), 0)
        stored_now = self.stored([first, second])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations_per_email"], {2})
        self.assertEqual(stored_now["quarantined"], 0)

    def test_message_reservation_is_bounded_and_released(self):
        account_id = self.committed_account([])

        def reserve(count, end):
            with self.worker_env() as env:
                account = env["crm.mail.account"].browse(account_id)
                run = SyncRun(account, time.monotonic() + WAIT, commit=True)
                self.assertTrue(run.claim(account))
                keys = [f"<reserve-{index}@example.com>" for index in range(count)]
                renewed = run.reserve(keys, account)
                held = self.message_locks()
                getattr(env.cr, end)()
                return renewed, held, self.message_locks()

        # Held across the renewal, released when the batch's transaction ends; none
        # was held by another worker.
        self.assertEqual(self.result_of(*self.start(reserve, 10, "commit")), (set(), 10, 0))
        self.assertEqual(self.result_of(*self.start(reserve, 10, "rollback")), (set(), 10, 0))
        # PostgreSQL's lock table is bounded: a larger batch goes without.
        self.assertEqual(self.result_of(*self.start(reserve, 1001, "commit")), (set(), 0, 0))

        def reserve_and_close():
            # A worker whose cursor is closed mid-batch (an error higher up): the
            # connection goes back to Odoo's pool, so its locks must not stay.
            cr = self.registry.cursor()
            cr.transaction = api.Transaction(self.registry)
            account = api.Environment(cr, SUPERUSER_ID, {})["crm.mail.account"].browse(account_id)
            run = SyncRun(account, time.monotonic() + WAIT, commit=True)
            run.claim(account)
            run.reserve(["<closed@example.com>"], account)
            held = self.message_locks()
            cr.close()
            return held, self.message_locks()

        self.assertEqual(self.result_of(*self.start(reserve_and_close)), (1, 0))

    def test_worker_stores_the_rest_of_its_batch_before_waiting(self):
        raws = self.messages(20, seed=7109)
        account_id = self.committed_account(raws, batch_size=20)
        busy = self.message_ids(raws)[:5]
        # Another session holds five of the Message-IDs, as a worker storing them would.
        holder = self.registry.cursor()
        try:
            holder.execute(
                "SELECT pg_advisory_lock(%s, hashtext(k)) FROM unnest(%s::text[]) AS k",
                (MESSAGE_LOCK_SPACE, busy),
            )
            holder.commit()
            with self.capture_logs(ADDON_LOGGER) as logs:
                thread = self.start(self.sync_committing, account_id)
                waited = self.wait_for_lock_wait("SELECT h, pg_advisory_lock")
                # While it waits, the other fifteen are stored and committed; the
                # folder's cursor has not moved past the batch.
                stored_first = self.stored([account_id])["message_ids"]
                last_uid_first = self.last_uid(self.folder_id(account_id))
                holder.execute("SELECT pg_advisory_unlock_all()")
                holder.commit()
                result = self.result_of(*thread)
        finally:
            holder.close()
        self.assertTrue(waited, "the worker never waited for the held messages")
        self.assertEqual(sorted(stored_first), sorted(set(self.message_ids(raws)) - set(busy)))
        self.assertFalse(last_uid_first)
        self.assertEqual(result, {"imported": 20, "locked": [], "failed": [], "incomplete": []})
        self.assertNotIn("retrying from the last committed batch", "\n".join(logs))
        self.assertEqual(self.message_locks(), 0)
        stored_now = self.stored([account_id])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations_per_email"], {1})
        self.assertEqual(stored_now["quarantined"], 0)
        self.assertEqual(self.last_uid(self.folder_id(account_id)), 20)

    def test_committing_workers_meeting_the_same_messages_never_collide(self):
        # Four mailboxes with the same 60 messages (in a different order each),
        # synced at once by four scheduled-action workers in batches of 5.
        raws = self.messages(60, seed=7107)
        account_ids = [
            self.committed_account(raws[index:] + raws[:index], batch_size=5)
            for index in (0, 15, 30, 45)
        ]
        barrier = threading.Barrier(len(account_ids))

        def worker(account_id):
            barrier.wait(WAIT)
            return self.sync_committing(account_id)

        with self.capture_logs(ADDON_LOGGER) as logs:
            threads = [self.start(worker, account_id) for account_id in account_ids]
            results = [self.result_of(*thread) for thread in threads]
        self.assertEqual([result["imported"] for result in results], [60] * 4)
        # A worker that met a message another one was storing waited for it and then
        # saw it: the unique key of the emails (23505) never stopped a batch.
        self.assertNotIn("23505", "\n".join(logs))
        self.assertEqual(self.message_locks(), 0)
        stored_now = self.stored(account_ids)
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations_per_email"], {4})
        self.assertEqual(stored_now["quarantined"], 0)

    def test_claimed_account_is_synced_by_one_worker_only(self):
        raws = self.messages(40, seed=7102)
        account_id = self.committed_account(raws)
        with self.worker_env() as holder_env:
            holder_cr = holder_env.cr
            holder = holder_env["crm.mail.account"].browse(account_id)
            self.assertTrue(SyncRun(holder, time.monotonic() + WAIT, commit=True).claim(holder))
            # A second worker finds the account taken and leaves it alone.
            other = self.result_of(*self.start(self.sync_committing, account_id))
            self.assertEqual(other["locked"], [account_id])
            self.assertEqual(other["imported"], 0)
            self.assertEqual(self.stored([account_id])["locations"], 0)
            # The first worker dies: its transaction ends without a commit, and its
            # claim with it.
            holder_cr.rollback()
        again = self.result_of(*self.start(self.sync_committing, account_id))
        self.assertEqual(again, {"imported": 40, "locked": [], "failed": [], "incomplete": []})
        stored_now = self.stored([account_id])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations"], 40)

    def test_workers_racing_for_one_account_import_each_message_once(self):
        raws = self.messages(200, seed=7103)
        account_id = self.committed_account(raws, batch_size=10)
        barrier = threading.Barrier(2)

        def racer():
            barrier.wait(WAIT)
            return self.sync_committing(account_id)

        results = [self.result_of(*thread) for thread in [self.start(racer), self.start(racer)]]
        self.assertEqual(sum(result["imported"] for result in results), 200)
        self.assertFalse([result for result in results if result["failed"]])
        stored_now = self.stored([account_id])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations"], 200)
        self.assertEqual(stored_now["distinct_locations"], 200)
        self.assertEqual(stored_now["quarantined"], 0)

    @mute_logger("odoo.sql_db")  # the failed UPDATE is logged as a bad query by Odoo
    def test_serialization_failure_in_a_batch_is_retried(self):
        inbox = self.messages(20, seed=7104)
        archive = self.messages(20, seed=7105)
        # Archive is synced first (folders sort by name), INBOX second.
        account_id = self.committed_account(inbox, extra_folders={"Archive": archive})
        inbox_id = self.folder_id(account_id, "INBOX")
        archive_id = self.folder_id(account_id, "Archive")
        # Another transaction changes the INBOX folder row and has not committed yet:
        # the worker's first write to it waits, then fails to serialize when the other
        # transaction commits (Odoo runs in REPEATABLE READ).
        blocker = self.registry.cursor()
        try:
            blocker.execute(
                "UPDATE crm_mail_folder SET display_label = display_label WHERE id = %s",
                (inbox_id,),
            )
            with self.capture_logs(ADDON_LOGGER) as logs:
                worker = self.start(self.sync_committing, account_id)
                met = self.wait_for_lock_wait('UPDATE "crm_mail_folder"')
                archived_before = self.query(
                    "SELECT count(*) FROM crm_mail_email_location WHERE folder_id = %s",
                    (archive_id,),
                )[0][0]
                blocker.commit()
                result = self.result_of(*worker)
        finally:
            blocker.close()
        self.assertTrue(met, "the worker never waited for the conflicting transaction")
        # The Archive folder's batches were committed before the failure.
        self.assertEqual(archived_before, 20)
        self.assertIn("40001", "\n".join(logs))  # serialization_failure
        self.assertEqual(result["failed"] + result["incomplete"] + result["locked"], [])
        stored_now = self.stored([account_id])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(inbox + archive))
        self.assertEqual(stored_now["locations"], 40)
        self.assertEqual(stored_now["distinct_locations"], 40)
        self.assertEqual(stored_now["quarantined"], 0)
        self.assertEqual(self.last_uid(inbox_id), 20)
        # The rolled-back batch released the Message-IDs it had locked.
        self.assertEqual(self.message_locks(), 0)

    def test_process_killed_mid_sync_resumes_from_last_committed_batch(self):
        total, batch = 600, 10
        raws = self.messages(total, seed=7106)
        account_id = self.committed_account(raws, batch_size=batch)
        inbox_id = self.folder_id(account_id, "INBOX")
        with tempfile.TemporaryFile("w+") as errors:
            process = subprocess.Popen(
                [
                    sys.executable,
                    WORKER_SCRIPT,
                    "--database",
                    self.env.cr.dbname,
                    "--account",
                    str(account_id),
                    *self.odoo_options(),
                ],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            try:
                line = process.stdout.readline()
                if not line:
                    process.wait(WAIT)
                    errors.seek(0)
                    self.fail(f"the sync worker did not start: {errors.read()[-3000:]}")
                backend_pid = json.loads(line)["backend_pid"]
                # Kill it (SIGKILL: no clean-up at all) once its first batch is committed.
                deadline = time.monotonic() + WAIT
                committed = 0
                while not committed and process.poll() is None and time.monotonic() < deadline:
                    committed = self.last_uid(inbox_id)
                    if not committed:
                        time.sleep(0.01)
                self.assertTrue(committed, "the worker committed no batch")
                os.kill(process.pid, signal.SIGKILL)
                process.wait(WAIT)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(WAIT)
                process.stdout.close()
        self.assertEqual(
            process.returncode, -signal.SIGKILL, "the worker had finished before it was killed"
        )
        # The dead worker's transaction, and its claim on the account, end with it.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and self.query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ):
            time.sleep(0.05)
        # Only whole batches were committed, each with its progress.
        last_uid = self.last_uid(inbox_id)
        stored_then = self.stored([account_id])
        self.assertTrue(0 < last_uid < total, last_uid)
        self.assertEqual(last_uid % batch, 0)
        self.assertEqual(stored_then["locations"], last_uid)
        self.assertEqual(len(stored_then["message_ids"]), last_uid)

        # The next run continues from the last committed batch.
        result = self.result_of(*self.start(self.sync_committing, account_id))
        self.assertEqual(result["imported"], total - last_uid)
        self.assertEqual(result["locked"] + result["failed"] + result["incomplete"], [])
        stored_now = self.stored([account_id])
        self.assertEqual(sorted(stored_now["message_ids"]), self.message_ids(raws))
        self.assertEqual(stored_now["locations"], total)
        self.assertEqual(stored_now["distinct_locations"], total)
        self.assertEqual(stored_now["locations_per_email"], {1})
        self.assertEqual(stored_now["quarantined"], 0)
        self.assertEqual(self.message_locks(), 0)
