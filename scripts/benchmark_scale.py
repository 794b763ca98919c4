"""Scale-out benchmark: many accounts synced by one, then by several worker processes.

Run through ``scripts/benchmark --scale`` (which finds Odoo and PostgreSQL and creates
the database). A private Dovecot holds ``--accounts`` mailboxes of ``--messages``
messages each; a share of them (``--shared``) is the same in every mailbox, like a
newsletter sent to all, so workers also meet the same message in different accounts.
Each run starts from a fresh copy of the database and starts ``N`` separate OS
processes, each running the scheduled action's entry point ``_cron_sync`` with its own
registry and cursor: they compete for the accounts through the row claims. Prints
emails/second for 1 and for ``--workers`` processes and the speed-up, after checking
that nothing was stored twice and nothing was lost.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing

import odoo
from odoo.modules.registry import Registry
from odoo.service import db as db_service
from odoo.tools import SQL, config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_SCRIPT = os.path.join(REPO, "crm_mail_sync", "tests", "sync_worker.py")
# "batch hit a concurrent transaction (40001: ...); retrying from the last committed batch"
RETRY_CAUSE = re.compile(r"concurrent transaction \((\w+): .*retrying from the last committed")
# PostgreSQL error codes of the retried conflicts, as the figures name them.
CAUSES = {"40001": "serialization", "40P01": "deadlock", "23505": "same message stored"}


# The same test servers and message corpus as the main benchmark.
from benchmark import corpus, servers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000, help="per account")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--shared", type=float, default=0.1, help="share of each mailbox found in every mailbox"
    )
    parser.add_argument("--senders", type=int, default=800)
    args, odoo_args = parser.parse_known_args()
    config.parse_config(odoo_args + ["-d", args.database])
    odoo.service.server.load_server_wide_modules()

    shared_count = int(args.messages * args.shared)
    own_count = args.messages - shared_count
    total = args.accounts * args.messages
    print(
        f"Generating {args.accounts} mailboxes x {args.messages} messages "
        f"({shared_count} of them in every mailbox)...",
        flush=True,
    )
    shared = corpus.many_messages(shared_count, seed=10**6, senders=args.senders)
    mailboxes = []
    for index in range(args.accounts):
        messages = corpus.many_messages(own_count, seed=index + 1, senders=args.senders)
        messages += shared
        # The shared messages come at different points in each mailbox, so workers
        # on different accounts meet them while the others are storing them.
        random.Random(index).shuffle(messages)
        mailboxes.append(messages)
    expected_ids = {corpus_message_id(raw) for messages in mailboxes for raw in messages}
    size_mb = sum(len(raw) for messages in mailboxes for raw in messages) / 1024 / 1024
    print(f"  {size_mb:.0f} MB; {len(expected_ids)} distinct messages, {total} in mailboxes")

    results = {}
    with servers.DovecotServer() as dovecot:
        logins = []
        for index, messages in enumerate(mailboxes):
            login = f"scale{index:03d}"
            dovecot.add_user(login, "bench")
            dovecot.seed(login, messages)
            logins.append(login)
        for workers in sorted({1, args.workers}):
            results[workers] = run(args, dovecot, logins, workers, odoo_args, expected_ids)

    print()
    print(
        f"Results ({args.accounts} accounts x {args.messages} messages, batch size "
        f"{args.batch_size}, {os.cpu_count()} CPU cores):"
    )
    for workers, result in results.items():
        print(
            f"  {workers} worker process(es): {result['count']} emails in "
            f"{result['seconds']:.1f} s = {result['rate']:.0f} emails/s "
            f"({describe_retries(result['retries'])})"
        )
    if len(results) > 1:
        one, many = results[1], results[args.workers]
        print(f"  speed-up with {args.workers} workers: {many['rate'] / one['rate']:.2f}x")
    print(
        f"  checked each run: {total} locations, {len(expected_ids)} emails, the same "
        "Message-IDs as seeded, no duplicate, nothing quarantined, every folder complete"
    )


def describe_retries(retries):
    """'12 batch retries: 10 serialization, 2 same message stored', or 'no batch retry'."""
    total = sum(retries.values())
    if not total:
        return "no batch retry"
    causes = ", ".join(f"{count} {CAUSES.get(code, code)}" for code, count in retries.most_common())
    return f"{total} batch retries: {causes}"


def corpus_message_id(raw):
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise ValueError("a corpus message without Message-ID")


def run(args, dovecot, logins, workers, odoo_args, expected_ids):
    """Sync every mailbox with ``workers`` processes on a fresh copy of the database."""
    database = f"{args.database}_w{workers}"
    db_service.exp_duplicate_database(args.database, database)
    try:
        account_ids = create_accounts(database, dovecot, logins, args.batch_size)
        print(f"{workers} worker process(es): syncing {len(logins)} accounts...", flush=True)
        seconds, retries = run_workers(database, workers, odoo_args)
        count = check(database, account_ids, args.messages, expected_ids)
    finally:
        drop_database(database)
    print(f"  {count} emails in {seconds:.1f} s = {count / seconds:.0f} emails/s", flush=True)
    return {"count": count, "seconds": seconds, "rate": count / seconds, "retries": retries}


def drop_database(database):
    """Drop a copy made by ``run``.

    Not ``exp_drop``: with ``-d`` given, Odoo lists only that database and refuses
    to drop any other, which left every copy (hundreds of MB each) behind.
    """
    Registry.delete(database)
    odoo.sql_db.close_db(database)
    with closing(odoo.sql_db.db_connect("postgres").cursor()) as cr:
        cr._cnx.autocommit = True  # DROP DATABASE cannot run in a transaction
        cr.execute(
            SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid != pg_backend_pid()",
                database,
            )
        )
        cr.execute(SQL("DROP DATABASE IF EXISTS %s", SQL.identifier(database)))


def create_accounts(database, dovecot, logins, batch_size):
    with Registry(database).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        # One pass of the scheduled action does the whole import.
        env["ir.config_parameter"].set_param("crm_mail_sync.cron_time_budget", 3600)
        accounts = env["crm.mail.account"].create(
            [
                {
                    "name": login,
                    "account_type": "group",
                    "email": f"{login}@example.com",
                    "host": dovecot.host,
                    "port": dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": "bench",
                    "batch_size": batch_size,
                }
                for login in logins
            ]
        )
        for account in accounts:
            account.action_test_connection()
        return accounts.ids


def run_workers(database, workers, odoo_args):
    """Start the workers, let them go at once; return (seconds, batch retries)."""
    logs, processes = [], []
    try:
        for _index in range(workers):
            log = tempfile.TemporaryFile("w+")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        WORKER_SCRIPT,
                        "--database",
                        database,
                        "--wait-for-go",
                        *odoo_args,
                        # Count the retries: the account model logs them at INFO.
                        "--log-handler=odoo.addons.crm_mail_sync.models.crm_mail_account:INFO",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
        for process, log in zip(processes, logs, strict=True):
            if not process.stdout.readline():
                process.wait()
                log.seek(0)
                sys.exit(f"a worker did not start:\n{log.read()[-3000:]}")
        start = time.time()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        done = []
        for process, log in zip(processes, logs, strict=True):
            line = process.stdout.readline()
            process.wait()
            if process.returncode or not line:
                log.seek(0)
                sys.exit(f"a worker failed:\n{log.read()[-3000:]}")
            done.append(json.loads(line))
        retries = Counter()
        for log, result in zip(logs, done, strict=True):
            log.seek(0)
            lines = log.readlines()
            retries.update(match.group(1) for line in lines if (match := RETRY_CAUSE.search(line)))
            print(
                f"  worker: {result['imported']} imported, {len(result['locked'])} accounts "
                f"taken by others, incomplete {result['incomplete']}, failed {result['failed']}"
            )
            for line in lines:
                if " WARNING " in line or " ERROR " in line:
                    print("   ", line.rstrip()[:300])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    failed = [account for result in done for account in result["failed"]]
    if failed:
        sys.exit(f"accounts failed to sync: {failed}")
    return max(result["end"] for result in done) - start, retries


def check(database, account_ids, messages, expected_ids):
    """Exit unless every message is stored once and every location recorded once."""
    with Registry(database).cursor() as cr:
        cr.execute(
            """SELECT count(*), count(DISTINCT (folder_id, uid)) FROM crm_mail_email_location
                WHERE account_id = ANY(%s)""",
            (account_ids,),
        )
        locations, distinct_locations = cr.fetchone()
        cr.execute("SELECT message_id FROM crm_mail_email")
        stored = [row[0] for row in cr.fetchall()]
        cr.execute("SELECT count(*) FROM crm_mail_quarantine")
        quarantined = cr.fetchone()[0]
        cr.execute(
            "SELECT count(*) FROM crm_mail_folder WHERE is_synced AND last_uid != %s",
            (messages,),
        )
        unfinished = cr.fetchone()[0]
    expected_locations = len(account_ids) * messages
    problems = []
    if locations != expected_locations:
        problems.append(f"{locations} locations for {expected_locations} messages in mailboxes")
    if distinct_locations != locations:
        problems.append(f"{locations - distinct_locations} locations recorded twice")
    if len(stored) != len(set(stored)):
        problems.append(f"{len(stored) - len(set(stored))} emails stored twice")
    if set(stored) != expected_ids:
        problems.append(
            f"{len(expected_ids - set(stored))} messages lost, "
            f"{len(set(stored) - expected_ids)} unexpected"
        )
    if quarantined:
        problems.append(f"{quarantined} messages quarantined")
    if unfinished:
        problems.append(f"{unfinished} folders not synced to the end")
    if problems:
        sys.exit("check failed: " + "; ".join(problems))
    print(
        f"  checked: {locations} locations, {len(stored)} emails with the seeded "
        "Message-IDs, no duplicate, nothing lost or quarantined"
    )
    return locations


if __name__ == "__main__":
    main()
