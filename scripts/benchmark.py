"""Benchmark crm_mail_sync's IMAP sync against Odoo's own fetchmail.

Run through ``scripts/benchmark`` (which finds Odoo and PostgreSQL and creates the
database). One private Dovecot on loopback holds two identical copies of the same
folder; this add-on syncs one, Odoo's ``fetchmail.server`` (IMAP into crm.lead, the
standard "create leads from incoming mail" set-up) fetches the other. Prints
emails/second for both, their ratio, and the time of a no-change re-sync.
"""

import argparse
import cProfile
import importlib.util
import os
import statistics
import sys
import time

import odoo
from odoo.tools import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


servers = _load("crm_mail_sync_bench_servers", os.path.join(REPO, "crm_mail_sync/tests/servers.py"))
corpus = _load(
    "crm_mail_sync_bench_corpus", os.path.join(REPO, "crm_mail_sync/tests/mail_corpus.py")
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--resyncs", type=int, default=5)
    parser.add_argument(
        "--fetchmail-messages",
        type=int,
        default=0,
        help="messages for fetchmail's copy (default: the same number)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of this add-on's initial sync to FILE (pstats format)",
    )
    args, odoo_args = parser.parse_known_args()
    config.parse_config(odoo_args + ["-d", args.database])
    odoo.service.server.load_server_wide_modules()
    registry = odoo.modules.registry.Registry(args.database)

    fetchmail_count = args.fetchmail_messages or args.messages
    print(f"Generating {args.messages} messages from {args.senders} senders...", flush=True)
    messages = corpus.many_messages(args.messages, seed=42, senders=args.senders)
    total_mb = sum(len(raw) for raw in messages) / 1024 / 1024
    print(f"  {total_mb:.1f} MB, {total_mb * 1024 / len(messages):.1f} KB per message on average")

    with servers.DovecotServer() as dovecot:
        dovecot.add_user("bench-ours", "bench")
        dovecot.add_user("bench-fetchmail", "bench")
        dovecot.seed("bench-ours", messages)
        dovecot.seed("bench-fetchmail", messages[:fetchmail_count])

        ours = bench_ours(registry, dovecot, args)
        theirs = bench_fetchmail(registry, dovecot, fetchmail_count)

    print()
    print("Results (one Dovecot folder over loopback, 2-core machine):")
    print(
        f"  crm_mail_sync initial sync : {ours['count']} emails in {ours['seconds']:.2f} s"
        f" = {ours['rate']:.0f} emails/s (Odoo process CPU {ours['cpu_seconds']:.2f} s)"
    )
    print(
        f"  crm_mail_sync no-change re-sync of the whole folder: median "
        f"{ours['resync_median'] * 1000:.1f} ms (min {ours['resync_min'] * 1000:.1f} ms,"
        f" {ours['resync_commands']} IMAP command(s))"
    )
    print(
        f"  Odoo fetchmail (crm.lead)  : {theirs['count']} emails in {theirs['seconds']:.2f} s"
        f" = {theirs['rate']:.1f} emails/s"
    )
    print(f"  ratio (initial sync)       : {ours['rate'] / theirs['rate']:.1f}x")


def bench_ours(registry, dovecot, args):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        account = env["crm.mail.account"].create(
            {
                "name": "bench",
                "account_type": "group",
                "email": "bench-ours@example.com",
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "security": "none",
                "login": "bench-ours",
                "password": "bench",
                "batch_size": args.batch_size,
            }
        )
        account.action_test_connection()
        cr.commit()
        print(f"crm_mail_sync: initial sync of {args.messages} messages...", flush=True)
        profiler = cProfile.Profile() if args.profile else None
        cpu_start = time.process_time()
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        stats = account._sync(deadline=time.monotonic() + 3600, commit=True)
        cr.commit()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        count = env["crm.mail.email"].search_count([("account_ids", "in", account.ids)])
        if count != args.messages or stats["failed"]:
            sys.exit(f"crm_mail_sync imported {count} of {args.messages}: {account.last_error}")
        resyncs = []
        for _ in range(args.resyncs):
            start = time.perf_counter()
            resync = account._sync(deadline=time.monotonic() + 60, commit=True)
            cr.commit()
            resyncs.append(time.perf_counter() - start)
            if resync["imported"]:
                sys.exit("a no-change re-sync imported mail")
    return {
        "count": count,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rate": count / seconds,
        "resync_median": statistics.median(resyncs),
        "resync_min": min(resyncs),
        "resync_commands": resync["commands"],
    }


def bench_fetchmail(registry, dovecot, count):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env["fetchmail.server"].create(
            {
                "name": "bench fetchmail",
                "server_type": "imap",
                "server": dovecot.host,
                "port": dovecot.imap_port,
                "is_ssl": False,
                "user": "bench-fetchmail",
                "password": "bench",
                "object_id": env["ir.model"]._get_id("crm.lead"),
            }
        )
        server.button_confirm_login()
        cr.commit()
        leads_before = env["crm.lead"].search_count([])
        print(f"Odoo fetchmail: fetching {count} messages into crm.lead...", flush=True)
        start = time.perf_counter()
        server.fetch_mail()
        seconds = time.perf_counter() - start
        cr.commit()
        created = env["crm.lead"].search_count([]) - leads_before
        if created != count:
            print(f"  warning: fetchmail created {created} leads for {count} messages")
    return {"count": count, "seconds": seconds, "rate": count / seconds}


if __name__ == "__main__":
    main()
