# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One run of the sync: the only place that commits, retries, locks and reports.

``SyncRun`` takes some accounts and a deadline. For each account it claims the
account's row, opens a session (``crm.mail.account._session``: protocol, login hook),
lets each synced folder import its new messages batch by batch
(``crm.mail.folder._sync``, through the import chain ``crm.mail.gateway``), and
between batches commits the progress, when the run may commit (the scheduled
action; never "Fetch now", which runs in the caller's transaction, nor a test). A
batch that meets a concurrent transaction is rolled back and retried from the last
committed batch. The models below it never commit.

``IdleListener`` keeps IMAP IDLE connections open for near-real-time accounts and
starts a run for an account as soon as its server announces mail.
"""

import contextlib
import functools
import logging
import random
import threading
import time

from psycopg2 import Error as PsycopgError
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from odoo.exceptions import UserError
from odoo.tools import SQL

from .lib import errors as mail_errors
from .lib.concurrency import ClaimLost, is_concurrency_error

_logger = logging.getLogger(__name__)

# First key of pg_advisory_lock(int, int) for the Message-IDs being stored ("CRM").
MESSAGE_LOCK_SPACE = 0x43524D
# pg_try_advisory_xact_lock(int, int) of the session analysing the archive's tables.
ANALYZE_LOCK = (0x43524E, 1)


def _release_message_locks(cr, hashes):
    """Release the session's locks on Message-IDs (a commit or rollback hook).

    The hook also runs from the final rollback of a cursor being closed, when the
    cursor can no longer execute: the unlock goes through its connection, in a
    transaction of its own that is ended at once (unlocking is not transactional).
    """
    connection = cr._cnx
    idle = connection.info.transaction_status == TRANSACTION_STATUS_IDLE
    with connection.cursor() as raw:
        raw.execute(
            "SELECT pg_advisory_unlock(%s, h) FROM unnest(%s::int[]) AS h",
            (MESSAGE_LOCK_SPACE, hashes),
        )
    if idle:
        connection.rollback()


class SyncRun:
    """Sync ``accounts`` until ``deadline`` (``time.monotonic()``).

    :param bool commit: commit after every batch (scheduled runs); without it the
        run stays in the caller's transaction
    """

    # How many times a batch that met a concurrent transaction is tried again.
    attempts = 8
    # PostgreSQL's lock table is shared by all sessions and bounded (by default 64
    # locks per connection slot): larger batches are stored without reserving.
    message_lock_limit = 1000
    # Where autovacuum is off or lags (it looks once a minute at most), a long import
    # leaves PostgreSQL planning for the archive's size before it: its lookups by
    # Message-ID then read the whole archive (a sequential scan of 150 ms a batch at
    # 190,000 emails). The run refreshes the statistics of the tables it grows after
    # this many emails, or a fifth of the archive, whichever is more.
    analyze_every = 5000
    # Those tables, and the columns the import's lookups filter on (None: all).
    analyzed_tables = {
        "crm_mail_email": (
            "message_id",
            "fingerprint",
            "from_address",
            "recipient_addresses",
            "in_reply_to",
            "sent_account_id",
        ),
        "crm_mail_email_location": None,
        "crm_mail_email_link": None,
        "mail_message": ("message_id", "model", "res_id"),
    }

    def __init__(self, accounts, deadline, commit):
        self.env = accounts.env
        self.accounts = accounts
        self.deadline = deadline
        self.commit = bool(commit) and not getattr(threading.current_thread(), "testing", False)
        self.account = None
        self.result = None
        self._archive_rows = None
        self._imported_since_analyze = 0

    @property
    def cr(self):
        return self.env.cr

    # ------------------------------------------------------------------
    # The run
    # ------------------------------------------------------------------

    def run(self):
        """Sync each account in turn.

        :return: dict with ``imported`` and ``commands`` (ints), and recordsets
            ``incomplete`` (stopped by the deadline), ``failed`` and ``locked``
            (synced elsewhere right now)
        """
        Account = self.accounts.browse()
        stats = {
            "imported": 0,
            "commands": 0,
            "incomplete": Account,
            "failed": Account,
            "locked": Account,
        }
        for account in self.accounts:
            if self.out_of_time():
                stats["incomplete"] |= account
                continue
            if not self.claim(account):
                stats["locked"] |= account
                continue
            result = self._sync_retrying(account)
            if result is None:
                stats["locked"] |= account
                continue
            stats["imported"] += result["imported"]
            stats["commands"] += result["commands"]
            if result["error"]:
                stats["failed"] |= account
            if not result["complete"]:
                stats["incomplete"] |= account
            if self.commit:
                # This account is done: its claim goes with the transaction, so that a
                # worker never holds an account it no longer syncs.
                self.cr.commit()  # pylint: disable=invalid-commit
        return stats

    def out_of_time(self):
        return time.monotonic() >= self.deadline

    def claim(self, account):
        """Claim ``account``'s row for the current transaction.

        The scheduled action and "Fetch now" (and several cron workers) never sync the
        same account at once; a claim dies with its transaction, so a crashed worker
        never leaves an account locked. NO KEY UPDATE: rows that merely reference the
        account (cases, folders) can still be written meanwhile.
        """
        try:
            with self.cr.savepoint(flush=False):
                self.cr.execute(
                    "SELECT id FROM crm_mail_account WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                    (account.id,),
                    log_exceptions=False,
                )
                return bool(self.cr.fetchone())
        except PsycopgError as exc:
            # Under REPEATABLE READ, a row another worker changed since this
            # transaction's snapshot cannot be locked (serialization failure): that
            # worker has just been syncing the account, so it counts as taken.
            if not is_concurrency_error(exc):
                raise
            return False

    def _sync_retrying(self, account):
        """Sync ``account``; after a concurrency error, again from the last committed batch.

        A serialization failure, a deadlock, or another worker storing the same
        message first aborts the batch being stored. Committing runs roll back (losing
        only that batch), claim the account again and go on in a new transaction that
        sees the other worker's changes, at most ``attempts`` times. A run that does
        not commit ("Fetch now") cannot renew its transaction: the error goes up, to
        Odoo's own retry of the request.

        :return: the account's result, or None when another worker claimed it while
            this one waited to retry
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return self._sync_account(account)
            except ClaimLost:
                return None
            except PsycopgError as exc:
                if not (is_concurrency_error(exc) and self.commit):
                    raise
                self.cr.rollback()
                # No query until the claim below: it starts the new transaction, whose
                # snapshot then sees everything committed while this one waited.
                if attempt == self.attempts:
                    # Nothing is lost: progress is committed per batch and the next run
                    # resumes from there.
                    _logger.warning(
                        "Mail account id %s: batch still conflicting after %s attempts (%s); "
                        "left for the next run",
                        account.id,
                        attempt,
                        exc.pgcode,
                    )
                    return {"imported": 0, "commands": 0, "complete": False, "error": False}
                _logger.info(
                    "Mail account id %s: batch hit a concurrent transaction (%s: %s); "
                    "retrying from the last committed batch (attempt %s of %s)",
                    account.id,
                    exc.pgcode,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    attempt + 1,
                    self.attempts,
                )
                # A short random back-off (at most 0.5 s): the other transaction has
                # usually committed already; what the retry needs is a new snapshot, and
                # workers that collided should not retry in step.
                time.sleep(random.uniform(0, min(0.02 * 2**attempt, 0.5)))
                if not self.claim(account):
                    return None
        return None

    def _sync_account(self, account):
        """Sync one account and record the outcome on it; server errors are recorded,
        never raised."""
        self.account = account
        self.result = result = {
            "imported": 0,
            "complete": True,
            "error": False,
            "warnings": [],
            "commands": 0,
        }
        if not account.live_since:
            # Everything already in the mailbox at the first sync is archive mail.
            account.live_since = account._initial_live_since()
        session = None
        try:
            session = account._session()
            account._connect(session)
            account._sync_folders(session, self)
        except mail_errors.MailServerError as exc:
            result["error"] = True
            account._record_error(str(exc))
        except UserError as exc:
            result["error"] = True
            account._record_error(exc.args[0])
        else:
            if result["complete"]:
                self._mark_initial_import_done(account)
            account._record_success(result["warnings"])
        finally:
            if session is not None:
                session.close()
        # Commands sent to the server, for the "nothing new costs one STATUS per
        # folder" promise.
        result["commands"] = getattr(session, "command_count", 0)
        return result

    # ------------------------------------------------------------------
    # What the folders ask of the run
    # ------------------------------------------------------------------

    def incomplete(self):
        """The deadline stopped the account: the rest is left for the next run."""
        self.result["complete"] = False

    def warn(self, message):
        """A problem the account's form shows, without failing the run."""
        self.result["warnings"].append(message)

    def import_batch(self, folder, items):
        """Import a folder's fetched messages (``lib.batch.BatchItem``) through the
        chain, reserving the new ones first; count and report them.

        The new messages another worker is storing at that moment (the same newsletter
        in two mailboxes) are left for last: the rest of the batch is stored and
        committed first, then this worker waits for the other one's and only records
        their locations. It never idles behind another batch while it has other mail.
        The folder's cursor moves past the batch only once all of it is stored.
        """
        Gateway = self.env["crm.mail.gateway"]
        batch = Gateway._import_batch(folder, items, reserve=self.reserve)
        self._count_batch(folder, batch)
        deferred = batch.deferred
        if deferred:
            self.commit_progress()
            for item in deferred:
                item.deferred = False
            later = Gateway._import_batch(
                folder, deferred, reserve=functools.partial(self.reserve, wait=True)
            )
            self._count_batch(folder, later)
            batch.new_emails |= later.new_emails
            batch.locations |= later.locations
        return batch

    def _count_batch(self, folder, batch):
        self.result["imported"] += batch.imported
        self._analyze_when_grown(batch.imported)
        # The account's counter travels in the batch's transaction, as its progress.
        folder.account_id.email_count += batch.imported
        if batch.failed:
            self.warn(
                self.env._(
                    "%(count)s message(s) of folder %(folder)s could not be imported "
                    "and were put in the quarantine.",
                    count=len(batch.failed),
                    folder=folder.display_label,
                )
            )
        self._report_progress(folder.account_id, folder.account_id.email_count)

    def _analyze_when_grown(self, imported):
        """Refresh the planner's statistics of the archive's tables once this run has
        grown them by ``analyze_every`` emails or a fifth (see ``analyzed_tables``)."""
        self._imported_since_analyze += imported
        if self._archive_rows is None:
            self._archive_rows = self._planned_archive_rows()
        if self._imported_since_analyze < max(self.analyze_every, self._archive_rows / 5):
            return False
        self._archive_rows += self._imported_since_analyze
        self._imported_since_analyze = 0
        return self.analyze_archive()

    def _planned_archive_rows(self):
        """How many emails PostgreSQL's planner believes the archive holds."""
        self.cr.execute(
            "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE relname = 'crm_mail_email'"
        )
        row = self.cr.fetchone()
        return row[0] if row else 0

    def analyze_archive(self):
        """ANALYZE the tables an import grows, unless another session is at it.

        :return: whether they were analysed
        """
        self.env.flush_all()
        # One session at a time (ANALYZE of a table waits for another's), held to the
        # end of the transaction.
        self.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", ANALYZE_LOCK)
        if not self.cr.fetchone()[0]:
            return False
        try:
            # In a savepoint: a database user that may not analyse a table (not its
            # owner) must not lose the batch; the run then stops trying.
            with self.cr.savepoint(flush=False):
                for table, columns in self.analyzed_tables.items():
                    listed = (
                        SQL("(%s)", SQL(", ").join(map(SQL.identifier, columns)))
                        if columns
                        else SQL()
                    )
                    self.cr.execute(SQL("ANALYZE %s %s", SQL.identifier(table), listed))
        except PsycopgError as exc:
            _logger.info("Could not analyse the mail archive's tables: %s", exc)
            self.analyze_every = float("inf")
            return False
        return True

    def commit_progress(self):
        """Commit the work done so far, when the run commits.

        After a commit the account's row is claimed again; when someone else claimed
        it meanwhile, ``ClaimLost`` ends this account's run (reported as taken).

        A run that does not commit ("Fetch now") drops the ORM's cache instead, as a
        commit does: it would otherwise hold every record of the import until the
        request ends (about 65 MB per 10,000 emails).
        """
        if not self.commit:
            self.env.invalidate_all()
            return
        self.cr.commit()  # pylint: disable=invalid-commit
        if not self.claim(self.account):
            # Not a mere False: nothing more may be written for the account, not even
            # its last sync date, once another worker holds it.
            raise ClaimLost()

    def reserve(self, message_ids, account=None, wait=False):
        """Make this worker the only one storing these messages until its batch ends.

        Two workers that meet the same new message (the same newsletter in two
        mailboxes) would both insert it: the second waits for the first, fails on the
        unique key, and must redo its whole batch in a new transaction, because its
        snapshot cannot see the first one's email. Instead each worker first locks the
        Message-IDs it is about to store (advisory locks); it then renews its snapshot,
        so that it sees what was stored before it took them.

        Without ``wait`` only the free Message-IDs are taken: those another worker
        holds are returned, and ``import_batch`` stores them after the rest of the
        batch, with ``wait``: waiting for them (in one order, holding no other, so
        that workers cannot deadlock), then only recording their locations.

        Only on committing runs: the locks belong to the database session, outlive a
        commit that renews the snapshot here, and are released when the batch's
        transaction ends, committed or not. "Fetch now" runs in one transaction, which
        can neither renew its snapshot nor hold a lock per message of a whole import;
        it meets the others as before (the unique key, then the retry).

        :param list message_ids: keys (``message_id``) of the emails to be created
        :param account: the account whose claim is renewed (default: the current one)
        :param bool wait: wait for the Message-IDs other workers hold
        :return: the keys another worker holds (none with ``wait``)
        :rtype: set
        :raise ClaimLost: another worker claimed the account during the renewal
        """
        account = account or self.account
        if not message_ids or len(message_ids) > self.message_lock_limit or not self.commit:
            return set()
        cr = self.cr
        lock = SQL("pg_advisory_lock" if wait else "pg_try_advisory_lock")
        cr.execute(
            SQL(
                """SELECT h, %s(%s, h), keys
                     FROM (SELECT hashtext(k) AS h, array_agg(k) AS keys
                             FROM unnest(%s::text[]) AS k GROUP BY h ORDER BY h) AS s""",
                lock,
                MESSAGE_LOCK_SPACE,
                list(message_ids),
            )
        )
        # pg_advisory_lock returns void (no value), pg_try_advisory_lock a boolean.
        rows = [(h, taken is not False, keys) for h, taken, keys in cr.fetchall()]
        hashes = [h for h, taken, _keys in rows if taken]
        busy = {key for _h, taken, keys in rows if not taken for key in keys}
        if not hashes:
            return busy
        release = functools.partial(_release_message_locks, cr, hashes)
        # Nothing of this batch is written yet: the commit only renews the snapshot.
        cr.postrollback.add(release)
        cr.commit()  # pylint: disable=invalid-commit
        cr.postcommit.add(release)
        cr.postrollback.add(release)
        if not self.claim(account):
            raise ClaimLost()
        return busy

    # ------------------------------------------------------------------
    # Progress
    # ------------------------------------------------------------------

    def _report_progress(self, account, imported_total):
        """Tell the users how a long first import is going (sent at the next commit)."""
        if account.initial_import_done or not self.commit:
            return
        for user in account._notify_users():
            user._bus_send(
                "simple_notification",
                {
                    "type": "info",
                    "title": self.env._("Importing %s", account.display_name),
                    "message": self.env._("%s emails imported so far.", imported_total),
                },
            )

    def _mark_initial_import_done(self, account):
        if account.initial_import_done:
            return
        account.write({"initial_import_done": True, "fetch_requested_by_id": False})
        for user in account._notify_users():
            user._bus_send(
                "simple_notification",
                {
                    "type": "success",
                    "sticky": True,
                    "title": self.env._("%s is imported", account.display_name),
                    "message": self.env._(
                        "The initial import of the mailbox is complete: %s emails.",
                        account.email_count,
                    ),
                },
            )


class IdleListener:
    """Near real time: IMAP IDLE on the folders of the accounts that ask for it, a run
    on news.

    For ``budget`` seconds it keeps one IMAP IDLE connection per planned folder (IDLE
    watches the one folder a connection has selected, read-only: EXAMINE), waits on
    all of them at once, and syncs an account as soon as its server announces mail in
    one of its folders. A folder whose connection fails is logged and left to the
    regular polling sync until the next run; the others go on listening.

    :param plan: ``(account, raw folder name)`` pairs, one connection each
    :param budget: seconds; the syncs started on news end by then too
    """

    # RFC 2177: re-issue IDLE at least every 29 minutes.
    max_wait = 29 * 60
    # Seconds a sync started on news may take: mail that arrived in real time is a
    # few messages; more is left to the regular sync.
    sync_time = 30

    def __init__(self, plan, budget):
        self.plan = list(plan)
        now = time.monotonic()
        self.end = now + max(budget, 0)
        # Listening stops early enough for the last sync to end within the budget.
        self.sync_time = min(self.sync_time, max(budget, 0) / 3)
        self.deadline = self.end - self.sync_time
        # Connections opened for IDLE (reconnections included), the most open at
        # once, and the syncs started on news: (folder, time.monotonic() at its end).
        self.opened = 0
        self.peak = 0
        self.synced = []
        self.listened_to_end = False

    def listen(self):
        """Listen until the budget is spent (``peak``: the most folders listened to at
        once; ``listened_to_end``: the budget was spent, no connection was left)."""
        listening = {}
        for account, folder in self.plan:
            if time.monotonic() >= self.deadline:
                break
            session = self._open(account, folder)
            if session:
                listening[session] = (account, folder)
        self.peak = len(listening)
        try:
            while listening and (remaining := self.deadline - time.monotonic()) > 0:
                session_class = type(next(iter(listening)))
                for session in session_class.idle_wait(
                    list(listening), min(remaining, self.max_wait)
                ):
                    account, folder = listening.pop(session)
                    try:
                        if not session.idle_check():
                            listening[session] = (account, folder)
                            continue
                        session.idle_done()
                    except mail_errors.MailServerError as exc:
                        _logger.info(
                            "IMAP IDLE on %s, folder %s, stopped: %s",
                            account.display_name,
                            folder,
                            exc,
                        )
                        session.close()
                        continue
                    SyncRun(
                        account, min(time.monotonic() + self.sync_time, self.end), commit=True
                    ).run()
                    self.synced.append((folder, time.monotonic()))
                    if time.monotonic() >= self.deadline:
                        session.close()
                        continue
                    # The same connection goes back to IDLE; a new one if it cannot.
                    if not self._restart(session, account, folder):
                        session.close()
                        session = self._open(account, folder)
                    if session:
                        listening[session] = (account, folder)
                        self.peak = max(self.peak, len(listening))
            self.listened_to_end = time.monotonic() >= self.deadline
        finally:
            for session in listening:
                with contextlib.suppress(mail_errors.MailServerError):
                    session.idle_done()
                session.close()

    def _open(self, account, folder):
        """A connected session in IDLE on ``folder``, or None (logged) when it fails."""
        try:
            session = account._session()
            account._connect(session)
        except (mail_errors.MailServerError, UserError) as exc:
            _logger.info(
                "IMAP IDLE on %s, folder %s, not possible: %s", account.display_name, folder, exc
            )
            return None
        self.opened += 1
        if not self._restart(session, account, folder):
            session.close()
            return None
        return session

    def _restart(self, session, account, folder):
        """Put a connected ``session`` in IDLE on ``folder``; False (logged) on failure."""
        try:
            session.idle_start(folder)
        except mail_errors.MailServerError as exc:
            _logger.info(
                "IMAP IDLE on %s, folder %s, not possible: %s", account.display_name, folder, exc
            )
            return False
        return True
