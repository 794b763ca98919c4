# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The arithmetic of the IMAP IDLE listener: how long a scheduled run may listen, and
which folders get one of the limited IDLE connections.

Plain Python: the caller reads Odoo's configuration and the database.
"""

import itertools


def cron_time_limit(limit_time_real, limit_time_real_cron, workers):
    """Seconds Odoo lets a scheduled job run before killing it, or None (no limit).

    Odoo 18 (``odoo/service/server.py``): with workers (prefork) the cron worker's
    watchdog is ``limit_time_real_cron``, -1 meaning ``limit_time_real`` and 0 no
    limit; in the threaded server a cron thread is stopped after
    ``limit_time_real_cron`` when it is positive, else after ``limit_time_real`` (0
    there: no limit).
    """
    real = limit_time_real or 0
    cron = limit_time_real_cron if limit_time_real_cron is not None else -1
    if workers:
        limit = real if cron < 0 else cron
    else:
        limit = cron if cron > 0 else real
    return limit if limit > 0 else None


def listen_budget(configured, limit, spent=0.0, margin=20.0):
    """Seconds a run may listen: ``configured``, clamped to end ``margin`` seconds
    before ``limit`` (None: no limit), of which ``spent`` have already gone (the
    scheduled jobs that ran before it in the same round count against the same limit).
    Never negative."""
    budget = float(configured)
    if limit is not None:
        budget = min(budget, limit - margin - max(spent, 0.0))
    return max(budget, 0.0)


def plan_connections(rankings, total):
    """Share ``total`` connections among accounts, fairly.

    :param rankings: one list per account of what it would watch, best first (its
        own limit already applied), e.g. ``[[("a", "INBOX"), ("a", "Work")], ...]``
    :param total: the most connections in all (None: no limit)
    :return: the entries to watch: every account's first choice, then every
        account's second, and so on, until ``total`` is reached
    """
    rounds = itertools.zip_longest(*rankings)
    chosen = [entry for entry in itertools.chain.from_iterable(rounds) if entry is not None]
    return chosen if total is None else chosen[: max(total, 0)]
