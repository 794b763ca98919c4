# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A sync worker in its own OS process, as one of several Odoo cron workers would be.

Not a test module: the concurrency tests and ``scripts/benchmark --scale`` start it
with ``python3 sync_worker.py --database DB [--account ID ...] [--wait-for-go]
ODOO_OPTIONS...``. It loads its own registry, opens its own cursor and runs the
scheduled action's entry point ``_cron_sync``, again while it reports accounts left
incomplete, as ir.cron does (or ``_sync`` of the given accounts, committing every
batch). It speaks JSON lines on stdout: ``ready`` (with its PostgreSQL backend pid)
once the registry is loaded, then ``done`` with its figures.
With ``--wait-for-go`` it waits for a line on stdin between the two, so that several
workers start syncing at the same moment.
"""

import argparse
import json
import sys
import time

import odoo
from odoo.modules.registry import Registry
from odoo.tools import config


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument(
        "--account",
        type=int,
        action="append",
        default=[],
        help="sync these accounts (default: the scheduled action's _cron_sync)",
    )
    parser.add_argument("--budget", type=float, default=3600, help="seconds, with --account")
    parser.add_argument("--wait-for-go", action="store_true")
    args, odoo_args = parser.parse_known_args()
    config.parse_config(odoo_args + ["-d", args.database])
    odoo.service.server.load_server_wide_modules()
    registry = Registry(args.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Account = env["crm.mail.account"]
        _say(ready=True, backend_pid=cr.connection.info.backend_pid)
        if args.wait_for_go:
            sys.stdin.readline()
        start = time.time()
        if args.account:
            stats = Account.browse(args.account)._sync(
                deadline=time.monotonic() + args.budget, commit=True
            )
        else:
            stats = Account._cron_sync()
            # Like ir.cron, which runs a job again at once (up to 10 times) while it
            # reports work remaining.
            for _again in range(9):
                if not stats["incomplete"]:
                    break
                cr.commit()  # pylint: disable=invalid-commit
                imported = stats["imported"]
                stats = Account._cron_sync()
                stats["imported"] += imported
        cr.commit()  # pylint: disable=invalid-commit
        _say(
            done=True,
            start=start,
            end=time.time(),
            imported=stats["imported"],
            locked=stats["locked"].ids,
            failed=stats["failed"].ids,
            incomplete=stats["incomplete"].ids,
        )


def _say(**values):
    print(json.dumps(values), flush=True)  # pylint: disable=print-used


if __name__ == "__main__":
    main()
