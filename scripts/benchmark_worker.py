"""One run of the benchmark, in its own Odoo process: ``scripts/benchmark.py`` starts it.

``python3 benchmark_worker.py --database DB --plan JSON ODOO_OPTIONS...`` loads the
database's registry, then takes the plan's steps in turn on the private Dovecot the
plan names, and prints one JSON line per step on stdout (Odoo logs on stderr):

* ``personal``: a user who is no administrator (internal user, CRM "own documents",
  Emails user with personal mailboxes) creates their personal account at the defaults
  (batch size and budgets untouched), tests the connection, then presses Fetch Now
  (``action_sync`` in the request's transaction, committed as the request ends) and,
  when Fetch Now's budget left mail waiting, the scheduled action's job runs until
  everything is in, each run committed as ir.cron commits it. Timed from Fetch Now to
  the last email stored.
* ``group``: a group account created by the administrator, imported by the scheduled
  action alone, run again while mail is waiting (as ir.cron does).
* ``fetchmail``: Odoo's own ``fetchmail.server`` (IMAP into crm.lead).
* ``resync``: a personal account with ``folders`` synced folders is synced, then Fetch
  Now is pressed ``resyncs`` times with nothing new; each press is timed.

Each finished account is archived, so that the scheduled action of a later step only
sees its own account. Every line carries the process's peak RSS so far
(``ru_maxrss``) and its RSS before the step.
"""

import argparse
import cProfile
import json
import resource
import sys
import time

import odoo
from odoo.modules.registry import Registry
from odoo.tools import config

# The rights of a salesperson who syncs their own mailbox.
USER_GROUPS = (
    "base.group_user",
    "sales_team.group_sale_salesman",
    "crm_mail_sync.group_crm_mail_user",
    "crm_mail_sync.group_crm_mail_personal",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--plan", required=True, help="JSON: host, port, steps")
    args, odoo_args = parser.parse_known_args()
    plan = json.loads(args.plan)
    config.parse_config(odoo_args + ["-d", args.database])
    odoo.service.server.load_server_wide_modules()
    registry = Registry(args.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        # Set by an administrator once: personal accounts may reach this mail host
        # (the Dovecot is on loopback, which users' accounts may not reach otherwise).
        env["ir.config_parameter"].set_param("crm_mail_sync.allowed_mail_hosts", plan["host"])
        cr.commit()  # pylint: disable=invalid-commit
        for step in plan["steps"]:
            rss_before = _rss_mb()
            result = STEPS[step["step"]](env, plan, step)
            result.update(
                step=step["step"],
                rss_before_mb=rss_before,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            )
            print(json.dumps(result), flush=True)  # pylint: disable=print-used


def _rss_mb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _stored(env, account):
    """How many of the account's messages are stored (one location each)."""
    env.flush_all()
    env.cr.execute(
        "SELECT count(*) FROM crm_mail_email_location WHERE account_id = %s", (account.id,)
    )
    return env.cr.fetchone()[0]


def _synced(env, account):
    """How many of the account's messages the sync went past (stored, skipped or
    quarantined): the seeded folders' UIDs run from 1, so the sum of the cursors."""
    env.flush_all()
    env.cr.execute(
        "SELECT coalesce(sum(last_uid), 0) FROM crm_mail_folder"
        " WHERE account_id = %s AND is_synced",
        (account.id,),
    )
    return env.cr.fetchone()[0]


def _create_user(env, login):
    return (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            {
                "name": f"Bench {login}",
                "login": login,
                "email": f"{login}@crm-mail-sync.test",
                "groups_id": [(6, 0, [env.ref(group).id for group in USER_GROUPS])],
            }
        )
    )


def _server_values(plan, step):
    """The account values of the run's Dovecot mailbox; the batch size only when the
    command line sets one (else the default a user gets)."""
    values = {
        "host": plan["host"],
        "port": plan["port"],
        "security": "none",
        "login": step["login"],
        "password": step["password"],
    }
    if plan.get("batch_size"):
        values["batch_size"] = plan["batch_size"]
    return values


def _personal_account(env, plan, step):
    user = _create_user(env, step["login"])
    values = {
        "name": f"{user.name}'s mailbox",
        "account_type": "personal",
        "user_id": user.id,
        "email": user.email,
        **_server_values(plan, step),
    }
    account = env["crm.mail.account"].with_user(user).create(values)
    account.action_test_connection()
    env.cr.commit()  # pylint: disable=invalid-commit
    return account


def _cron_until_done(env, account, expected):
    """Run the scheduled action's job until the sync of ``account`` went past its
    ``expected`` messages; return how many runs it took."""
    cron = env.ref("crm_mail_sync.ir_cron_crm_mail_sync")
    runs = 0
    synced = _synced(env, account)
    while synced < expected:
        cron.method_direct_trigger()
        env.cr.commit()  # pylint: disable=invalid-commit
        runs += 1
        before, synced = synced, _synced(env, account)
        if synced == before:
            sys.exit(
                f"the scheduled action imported nothing more ({synced} of {expected}): "
                f"{account.sudo().last_error}"
            )
    return runs


def _done(env, account, expected, seconds, cpu_seconds, **extra):
    stored = _stored(env, account)
    quarantined = env["crm.mail.quarantine"].sudo().search_count([("account_id", "=", account.id)])
    # What was neither stored nor quarantined was skipped (the report says so).
    account.sudo().active = False
    env.cr.commit()  # pylint: disable=invalid-commit
    return {
        "count": expected,
        "stored": stored,
        "quarantined": quarantined,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rate": expected / seconds,
        **extra,
    }


def step_personal(env, plan, step):
    account = _personal_account(env, plan, step)
    profiler = cProfile.Profile() if step.get("profile") else None
    cpu_start = time.process_time()
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    account.action_sync()  # Fetch Now, as the user
    env.cr.commit()  # pylint: disable=invalid-commit
    fetch_now_seconds = time.perf_counter() - start
    fetch_now_count = _stored(env, account)
    cron_runs = _cron_until_done(env, account, step["expected"])
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    if profiler:
        profiler.disable()
        profiler.dump_stats(step["profile"])
    return _done(
        env,
        account,
        step["expected"],
        seconds,
        cpu_seconds,
        fetch_now_seconds=fetch_now_seconds,
        fetch_now_count=fetch_now_count,
        cron_runs=cron_runs,
    )


def step_group(env, plan, step):
    values = {
        "name": step["login"],
        "account_type": "group",
        "email": f"{step['login']}@crm-mail-sync.test",
        **_server_values(plan, step),
    }
    account = env["crm.mail.account"].create(values)
    account.action_test_connection()
    env.cr.commit()  # pylint: disable=invalid-commit
    cpu_start = time.process_time()
    start = time.perf_counter()
    cron_runs = _cron_until_done(env, account, step["expected"])
    seconds = time.perf_counter() - start
    return _done(
        env,
        account,
        step["expected"],
        seconds,
        time.process_time() - cpu_start,
        cron_runs=cron_runs,
    )


def step_fetchmail(env, plan, step):
    server = env["fetchmail.server"].create(
        {
            "name": f"bench {step['login']}",
            "server_type": "imap",
            "server": plan["host"],
            "port": plan["port"],
            "is_ssl": False,
            "user": step["login"],
            "password": step["password"],
            "object_id": env["ir.model"]._get_id("crm.lead"),
        }
    )
    server.button_confirm_login()
    env.cr.commit()  # pylint: disable=invalid-commit
    leads_before = env["crm.lead"].search_count([])
    cpu_start = time.process_time()
    start = time.perf_counter()
    server.fetch_mail()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    env.cr.commit()  # pylint: disable=invalid-commit
    server.active = False
    env.cr.commit()  # pylint: disable=invalid-commit
    return {
        "count": step["expected"],
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rate": step["expected"] / seconds,
        "leads": env["crm.lead"].search_count([]) - leads_before,
    }


def step_resync(env, plan, step):
    account = _personal_account(env, plan, step)
    # The user ticks every folder they want synced (INBOX and Sent are ticked already).
    folders = account.folder_ids.filtered(lambda f: f.name in step["folder_names"])
    folders.write({"is_synced": True})
    env.cr.commit()  # pylint: disable=invalid-commit
    synced = len(account.folder_ids.filtered("is_synced"))
    account.action_sync()
    env.cr.commit()  # pylint: disable=invalid-commit
    _cron_until_done(env, account, step["expected"])
    times = []
    for _index in range(step["resyncs"]):
        start = time.perf_counter()
        account.action_sync()  # Fetch Now with nothing new
        env.cr.commit()  # pylint: disable=invalid-commit
        times.append(time.perf_counter() - start)
    if _synced(env, account) != step["expected"]:
        sys.exit("a no-change re-sync imported mail")
    account.sudo().active = False
    env.cr.commit()  # pylint: disable=invalid-commit
    return {"folders": synced, "count": step["expected"], "times": times}


STEPS = {
    "personal": step_personal,
    "group": step_group,
    "fetchmail": step_fetchmail,
    "resync": step_resync,
}


if __name__ == "__main__":
    main()
