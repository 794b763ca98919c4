"""Benchmark crm_mail_sync's initial sync against Odoo's own fetchmail, at a user's defaults.

Run through ``scripts/benchmark`` (which finds Odoo and PostgreSQL and creates the
database with the add-on installed). For every corpus of ``tests/mail_corpus.py``
(plain text, HTML newsletters, attachments, multilingual, threads, CPython's email
test messages) and every run, a private Dovecot on loopback gets fresh mailboxes (each
run its own messages: another seed) and a fresh copy of the database gets, in one Odoo
process (``benchmark_worker.py``):

* a personal account of a user who is no administrator, synced as they would: Fetch
  Now, then the scheduled action for whatever Fetch Now's time budget left;
* a group account imported by the scheduled action;
* Odoo's ``fetchmail.server`` (IMAP into crm.lead) on the first messages of the
  personal mailbox (fewer: it is slow; its rate is per message).

Accounts keep their defaults (batch size, time budgets). Prints a Markdown table:
emails/second min/median/max over the runs, fetchmail's, and the ratio (each run's
rate over the fetchmail rate of the same run), then the worst corpus.

  --quick (the default)  every corpus, 3 runs, a no-change re-sync of 20 folders
  --matrix               the same with more messages, plus growth (10,000, 50,000
                         and 100,000 messages: rate and the Odoo process's peak RSS)
                         and the scale-out run (``benchmark_scale.py``)
  --corpus NAME          only this corpus (repeatable)
  --profile FILE         also a profiled personal sync per corpus (cProfile, pstats)
  --write-readme         paste the table into the README between its markers
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing

import odoo
from odoo.tools import SQL, config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, "scripts", "benchmark_worker.py")
SCALE = os.path.join(REPO, "scripts", "benchmark_scale.py")
README_FILES = (os.path.join(REPO, "README.md"),)
README_FRAGMENTS = os.path.join(REPO, "crm_mail_sync", "readme")
START_MARKER, END_MARKER = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


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

# Messages per mailbox and per fetchmail copy, by mode and corpus. --quick stays under
# 10 minutes on a 2-core machine: fewer newsletters (about 60 KB each, the slowest
# to import) and attachments (about 0.5 MB each).
COUNTS = {
    "quick": {kind: (2000, 100) for kind in corpus.CORPUS_KINDS}
    | {"newsletter": (400, 30), "attachments": (300, 30)},
    "matrix": {kind: (2000, 300) for kind in corpus.CORPUS_KINDS},
}
GROWTH_SIZES = (10_000, 50_000, 100_000)
PATHS = (("personal", "personal, Fetch Now"), ("group", "group, scheduled action"))
TARGET_RATIO, TARGET_RATE = 50, 600


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the default")
    mode.add_argument("--matrix", action="store_true")
    parser.add_argument("--corpus", action="append", choices=corpus.CORPUS_KINDS, help="repeatable")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, help="per mailbox (default: by corpus)")
    parser.add_argument(
        "--fetchmail-messages", type=int, help="fetchmail's copy (default: by corpus)"
    )
    parser.add_argument(
        "--batch-size", type=int, help="set on the accounts (default: the account's default)"
    )
    parser.add_argument("--resyncs", type=int, default=5, help="no-change re-syncs timed")
    parser.add_argument(
        "--growth",
        type=lambda text: tuple(int(size) for size in text.split(",")),
        help="growth sizes with --matrix (default 10000,50000,100000)",
    )
    parser.add_argument("--no-scale", action="store_true", help="--matrix without --scale")
    parser.add_argument("--profile", metavar="FILE", help="cProfile of a personal sync")
    parser.add_argument("--write-readme", action="store_true")
    args, odoo_args = parser.parse_known_args()
    config.parse_config(odoo_args + ["-d", args.database])
    args.mode = "matrix" if args.matrix else "quick"
    args.odoo_args = odoo_args
    kinds = args.corpus or list(corpus.CORPUS_KINDS)
    if "cpython" in kinds:
        corpus.cpython_email_messages()  # fail now, with the reason, when they are missing
    command = os.environ.get("CRM_MAIL_SYNC_BENCH_COMMAND") or shlex.join(
        ["scripts/benchmark", *sys.argv[1:]]
    )
    started = time.time()
    loads = [os.getloadavg()[0]]
    results, growth, resync, scale = {}, [], None, None
    with servers.DovecotServer() as dovecot:
        for kind in kinds:
            messages, fetchmail = COUNTS[args.mode][kind]
            messages = args.messages or messages
            fetchmail = min(args.fetchmail_messages or fetchmail, messages)
            if args.profile:
                profile = args.profile if len(kinds) == 1 else f"{args.profile}.{kind}"
                run_corpus(args, dovecot, kind, "profile", messages, 0, profile=profile)
                print(f"  profile of a personal sync of {kind}: {profile}", flush=True)
            results[kind] = []
            for run in range(args.runs):
                results[kind].append(run_corpus(args, dovecot, kind, run, messages, fetchmail))
                loads.append(os.getloadavg()[0])
        resync = run_resync(args, dovecot)
        if args.matrix:
            for size in args.growth or GROWTH_SIZES:
                growth.append(
                    (size, [run_growth(args, dovecot, size, run) for run in range(args.runs)])
                )
                loads.append(os.getloadavg()[0])
    if args.matrix and not args.no_scale:
        scale = run_scale(args)
    loads.append(os.getloadavg()[0])
    report = render(args, command, started, loads, results, resync, growth, scale)
    print()
    print(report)
    if args.write_readme:
        write_readme(report)


# ----------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------


def seed(dovecot, login, kind, count, seed_value, copy_to=None, copy_count=0, folder="INBOX"):
    """Seed ``login`` with the corpus, streamed; the first ``copy_count`` messages also
    into ``copy_to``. Return the size in bytes."""
    dovecot.add_user(login, "bench")
    if copy_to:
        dovecot.add_user(copy_to, "bench")
    size, chunk = 0, []
    for index, raw in enumerate(corpus.iter_corpus(kind, count, seed_value)):
        size += len(raw)
        chunk.append(raw)
        if copy_to and index < copy_count:
            dovecot.seed(copy_to, [raw])
        if len(chunk) == 200:
            dovecot.seed(login, chunk, folder=folder)
            chunk = []
    if chunk:
        dovecot.seed(login, chunk, folder=folder)
    return size


def forget_mailbox(dovecot, login):
    shutil.rmtree(os.path.join(dovecot.workdir, "mail", login), ignore_errors=True)


def run_corpus(args, dovecot, kind, run, messages, fetchmail, profile=None):
    """One run of a corpus: personal, group and fetchmail in a fresh database."""
    tag = f"{kind}-{run}"
    base = 0 if run == "profile" else 2 * run + 1
    print(f"{kind}, run {run}: seeding {messages} messages x 2...", flush=True)
    size = seed(dovecot, f"p-{tag}", kind, messages, base, f"f-{tag}", fetchmail)
    logins = [f"p-{tag}"]
    steps = [_step("personal", f"p-{tag}", messages, profile=profile)]
    if run != "profile":
        seed(dovecot, f"g-{tag}", kind, messages, base + 1)
        logins += [f"g-{tag}", f"f-{tag}"]
        steps += [_step("group", f"g-{tag}", messages)]
        if fetchmail:
            steps.append(_step("fetchmail", f"f-{tag}", fetchmail))
    try:
        out = run_worker(args, dovecot, f"{kind}_{run}", steps)
    finally:
        for login in {*logins, f"f-{tag}"}:
            forget_mailbox(dovecot, login)
    out["mb"] = size / 1024 / 1024
    summary = ", ".join(
        f"{name} {result['rate']:.1f} emails/s" for name, result in out.items() if name != "mb"
    )
    summary += f"; peak RSS of the Odoo process {out['personal']['peak_rss_mb']:.0f} MB"
    print(f"  {summary}", flush=True)
    return out


def run_resync(args, dovecot):
    """20 synced folders of 50 messages, then Fetch Now with nothing new."""
    login = "resync"
    names = [f"Folder{index:02d}" for index in range(1, 19)]
    print("no-change re-sync: seeding 20 folders...", flush=True)
    dovecot.add_user(login, "bench")
    seed(dovecot, login, "plain", 50, 900)
    seed(dovecot, login, "plain", 50, 901, folder="Sent")
    for index, name in enumerate(names):
        seed(dovecot, login, "plain", 50, 902 + index, folder=name)
    step = _step("resync", login, 50 * 20, folder_names=names, resyncs=args.resyncs)
    try:
        out = run_worker(args, dovecot, "resync", [step])["resync"]
    finally:
        forget_mailbox(dovecot, login)
    print(f"  {out['folders']} folders: {[round(t * 1000, 1) for t in out['times']]} ms")
    return out


def run_growth(args, dovecot, size, run):
    """The personal path on ``size`` plain messages, alone in its Odoo process."""
    login = f"growth-{size}-{run}"
    print(f"growth {size}, run {run}: seeding...", flush=True)
    mb = seed(dovecot, login, "plain", size, 100 + run) / 1024 / 1024
    try:
        out = run_worker(args, dovecot, f"growth_{size}_{run}", [_step("personal", login, size)])
    finally:
        forget_mailbox(dovecot, login)
    out = out["personal"]
    out["mb"] = mb
    print(
        f"  {out['rate']:.0f} emails/s, peak RSS {out['peak_rss_mb']:.0f} MB "
        f"(Fetch Now {out['fetch_now_count']}, then {out['cron_runs']} scheduled run(s))",
        flush=True,
    )
    return out


def run_scale(args):
    """``benchmark_scale.py`` (1 and 4 workers), ``args.runs`` times; its figures."""
    runs = []
    for run in range(args.runs):
        print(f"scale-out, run {run}...", flush=True)
        process = subprocess.run(
            [sys.executable, SCALE, "--database", args.database, *args.odoo_args],
            capture_output=True,
            text=True,
            check=False,
        )
        if process.returncode:
            sys.exit(
                f"benchmark_scale.py failed:\n{process.stdout[-2000:]}{process.stderr[-3000:]}"
            )
        rates = {
            int(workers): float(rate)
            for workers, rate in re.findall(
                r"(\d+) worker process\(es\): \d+ emails in [\d.]+ s = (\d+) emails/s \(",
                process.stdout,
            )
        }
        setup = re.search(r"Results \((.*?), \d+ CPU cores\)", process.stdout)
        runs.append({"rates": rates, "setup": setup.group(1) if setup else ""})
        print(f"  {rates}", flush=True)
    return runs


def _step(name, login, expected, **extra):
    return {"step": name, "login": login, "password": "bench", "expected": expected, **extra}


def run_worker(args, dovecot, suffix, steps):
    """Run ``steps`` in a new Odoo process on a fresh copy of the database."""
    database = f"{args.database}_{suffix}".replace("-", "_")
    copy_database(args.database, database)
    plan = {
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "batch_size": args.batch_size,
        "steps": steps,
    }
    try:
        with tempfile.TemporaryFile("w+") as log:
            process = subprocess.run(
                [
                    sys.executable,
                    WORKER,
                    "--database",
                    database,
                    "--plan",
                    json.dumps(plan),
                    *args.odoo_args,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                check=False,
            )
            log.seek(0)
            errors = log.read()
        if process.returncode:
            sys.exit(f"the benchmark worker failed ({suffix}):\n{errors[-4000:]}")
        warnings = [
            line for line in errors.splitlines() if " WARNING " in line or " ERROR " in line
        ]
        for line in warnings[:5]:
            print("   ", line[:300])
        if len(warnings) > 5:
            print(f"    ... and {len(warnings) - 5} more warnings")
    finally:
        drop_database(database)
    results = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    return {result["step"]: result for result in results}


def copy_database(template, database):
    with closing(odoo.sql_db.db_connect("postgres").cursor()) as cr:
        cr._cnx.autocommit = True  # CREATE DATABASE cannot run in a transaction
        cr.execute(SQL("DROP DATABASE IF EXISTS %s", SQL.identifier(database)))
        cr.execute(
            SQL(
                "CREATE DATABASE %s TEMPLATE %s", SQL.identifier(database), SQL.identifier(template)
            )
        )


def drop_database(database):
    odoo.sql_db.close_db(database)
    with closing(odoo.sql_db.db_connect("postgres").cursor()) as cr:
        cr._cnx.autocommit = True
        cr.execute(
            SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid != pg_backend_pid()",
                database,
            )
        )
        cr.execute(SQL("DROP DATABASE IF EXISTS %s", SQL.identifier(database)))
    shutil.rmtree(config.filestore(database), ignore_errors=True)


# ----------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                cpu,
            )
        with open("/proc/meminfo") as handle:
            ram = int(handle.readline().split()[1]) / 1024 / 1024
    except OSError:
        ram = 0
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GB RAM"


def versions():
    with closing(odoo.sql_db.db_connect("postgres").cursor()) as cr:
        cr.execute("SHOW server_version")
        postgres = cr.fetchone()[0].split()[0]
    try:
        dovecot = subprocess.run(
            [servers.find_dovecot(), "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[0]
    except (OSError, RuntimeError, IndexError):
        dovecot = "?"
    return (
        f"Python {platform.python_version()}, PostgreSQL {postgres}, "
        f"Odoo {odoo.release.version}, Dovecot {dovecot}"
    )


def commit():
    def git(*command):
        return subprocess.run(
            ["git", "-C", REPO, *command], capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + (" with uncommitted changes" if git("status", "--porcelain") else "")


def spread(values, fmt):
    """'min / median / max' of ``values``."""
    return " / ".join(fmt(v) for v in (min(values), statistics.median(values), max(values)))


def rate_fmt(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def render(args, command, started, loads, results, resync, growth, scale):
    date = datetime.datetime.fromtimestamp(started, datetime.timezone.utc)
    minutes = (time.time() - started) / 60
    lines = [
        f"`{command}`, {date:%Y-%m-%d %H:%M} UTC, commit {commit()}, {minutes:.0f} minutes.",
        "",
        f"Machine: {machine()}; load average (1 min) {loads[0]:.2f} at the start, "
        f"{max(loads):.2f} at most between runs. {versions()}.",
        "",
        f"Each row: {args.runs} run(s), each on a fresh copy of the database and fresh "
        "mailboxes with its own messages (another seed) in a private Dovecot on "
        "loopback. Accounts at their defaults (batch size "
        + (f"{args.batch_size}, set by --batch-size" if args.batch_size else "200")
        + ", Fetch Now budget 60 s, scheduled action budget 90 s). *personal, Fetch Now*: "
        "a user who is no administrator presses Fetch Now on their new personal account, "
        "then the scheduled action imports what Fetch Now's budget left, timed to the last "
        "email stored; *group, scheduled action*: the administrator's group account "
        "imported by the scheduled action. Odoo's fetchmail (`fetchmail.server` into "
        "`crm.lead`) fetches the first messages of the same personal mailbox in the same "
        "run; the ratio is each run's rate over that run's fetchmail rate.",
        "",
        "| corpus | path | messages | MB | crm_mail_sync emails/s (min / median / max) "
        "| fetchmail emails/s (median; messages) | ratio: median (min) |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    rows = []
    for kind, runs in results.items():
        fetchmail = [run["fetchmail"]["rate"] for run in runs if "fetchmail" in run]
        for path, label in PATHS:
            rates = [run[path]["rate"] for run in runs]
            ratios = [
                run[path]["rate"] / run["fetchmail"]["rate"] for run in runs if "fetchmail" in run
            ]
            row = {
                "kind": kind,
                "label": label,
                "rate": statistics.median(rates),
                "ratio": statistics.median(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None,
            }
            rows.append(row)
            ratio = f"**{row['ratio']:.1f}x** ({row['ratio_min']:.1f}x)" if ratios else "-"
            lines.append(
                f"| {kind} | {label} | {runs[0][path]['count']:,} "
                f"| {statistics.median(run['mb'] for run in runs):.1f} "
                f"| {spread(rates, rate_fmt)} "
                + (
                    f"| {statistics.median(fetchmail):.1f} ({runs[0]['fetchmail']['count']}) "
                    if fetchmail
                    else "| - "
                )
                + f"| {ratio} |"
            )
    lines.append("")
    if rows:
        rated = [row for row in rows if row["ratio"] is not None] or rows
        worst = min(rated, key=lambda row: (row["ratio"] or 0, row["rate"]))
        slowest = min(rows, key=lambda row: row["rate"])
        lines.append(
            f"**Worst corpus: {worst['kind']}** ({worst['label']}): "
            + (
                f"**{worst['ratio']:.1f}x** fetchmail median ({worst['ratio_min']:.1f}x min), "
                if worst["ratio"] is not None
                else ""
            )
            + f"{rate_fmt(worst['rate'])} emails/s median; slowest: {slowest['kind']} "
            f"({slowest['label']}), {rate_fmt(slowest['rate'])} emails/s. "
            f"The issue's target: {TARGET_RATIO}x and {TARGET_RATE} emails/s on every corpus."
        )
        notes = []
        for kind, runs in results.items():
            dropped = [
                run["fetchmail"]["count"] - run["fetchmail"]["leads"]
                for run in runs
                if "fetchmail" in run and run["fetchmail"]["leads"] != run["fetchmail"]["count"]
            ]
            if dropped:
                notes.append(f"{kind}: {max(dropped)} of {runs[0]['fetchmail']['count']}")
        for kind, runs in results.items():
            for path, label in PATHS:
                missing = max(run[path]["count"] - run[path]["stored"] for run in runs)
                if missing:
                    quarantined = max(run[path]["quarantined"] for run in runs)
                    lines.append(
                        f"{kind}, {label}: up to {missing} messages not stored "
                        f"({quarantined} quarantined, the others skipped)."
                    )
        if notes:
            lines.append(
                "Messages fetchmail fetched without creating a lead (replies it posted on "
                "the lead of their thread, loops and bounces it dropped), counted in its "
                "rate: " + "; ".join(notes) + "."
            )
        lines.append("")
    if resync:
        times = [t * 1000 for t in resync["times"]]
        lines += [
            "| no-change re-sync | folders | emails | Fetch Now, ms (min / median / max) |",
            "| --- | ---: | ---: | --- |",
            f"| personal account, nothing new, {len(times)} presses of Fetch Now "
            f"| {resync['folders']} | {resync['count']:,} "
            f"| {spread(times, lambda v: f'{v:.0f}')} |",
            "",
        ]
    if growth:
        base = statistics.median(run["rate"] for run in growth[0][1])
        lines += [
            "| growth: plain, personal, Fetch Now then the scheduled action | MB "
            "| emails/s (min / median / max) | vs the smallest | Odoo process peak RSS, MB "
            "(min / median / max) | imported by Fetch Now (median) |",
            "| --- | ---: | --- | ---: | --- | ---: |",
        ]
        for size, runs in growth:
            rates = [run["rate"] for run in runs]
            lines.append(
                f"| {size:,} messages | {statistics.median(run['mb'] for run in runs):.0f} "
                f"| {spread(rates, rate_fmt)} "
                f"| {statistics.median(rates) / base * 100 - 100:+.0f}% "
                f"| {spread([run['peak_rss_mb'] for run in runs], lambda v: f'{v:.0f}')} "
                f"| {statistics.median(run['fetch_now_count'] for run in runs):,.0f} |"
            )
        lines.append("")
    if scale:
        one = [run["rates"].get(1, 0) for run in scale]
        many = {workers for run in scale for workers in run["rates"] if workers != 1}
        lines += [
            f"| scale-out ({scale[0]['setup']}, scheduled action) | emails/s "
            "(min / median / max) | speed-up (min / median / max) |",
            "| --- | --- | --- |",
            f"| 1 worker process | {spread(one, rate_fmt)} | - |",
        ]
        for workers in sorted(many):
            rates = [run["rates"][workers] for run in scale]
            ups = [run["rates"][workers] / run["rates"][1] for run in scale]
            lines.append(
                f"| {workers} worker processes | {spread(rates, rate_fmt)} "
                f"| {spread(ups, lambda v: f'{v:.2f}x')} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_readme(report):
    """Replace what is between the markers with ``report``; regenerate README.rst when
    the markers are in a fragment of crm_mail_sync/readme/."""
    candidates = list(README_FILES) + sorted(
        os.path.join(README_FRAGMENTS, name)
        for name in os.listdir(README_FRAGMENTS)
        if name.endswith(".md")
    )
    for path in candidates:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if START_MARKER in text and END_MARKER in text:
            head, rest = text.split(START_MARKER, 1)
            _old, tail = rest.split(END_MARKER, 1)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(f"{head}{START_MARKER}\n{report}{END_MARKER}{tail}")
            print(f"wrote the table into {os.path.relpath(path, REPO)}")
            if path.startswith(README_FRAGMENTS):
                subprocess.run([os.path.join(REPO, "scripts", "gen-readme")], check=True)
            return
    sys.exit(f"no {START_MARKER} ... {END_MARKER} markers in {', '.join(candidates)}")


if __name__ == "__main__":
    main()
