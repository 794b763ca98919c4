# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Near real time: which folders of which mailboxes the IMAP IDLE listener watches,
within the connection limits, and how long a scheduled run of it may listen."""

import logging
import threading
import time

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, config

from ..lib.idle import cron_time_limit, listen_budget, plan_connections
from ..sync_run import IdleListener

_logger = logging.getLogger(__name__)

# Defaults of the system parameters (Settings > CRM > Synced Emails).
DEFAULT_IDLE_TIME_BUDGET = 240
DEFAULT_IDLE_MAX_CONNECTIONS = 50
# Seconds kept between the end of a listening run and Odoo's time limit for
# scheduled jobs: the last sync started on news, closing the connections.
IDLE_TIME_MARGIN = 20
# Below this many seconds, a run does not connect at all.
IDLE_MIN_BUDGET = 5


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    idle_connection_limit = fields.Integer(
        string="IDLE Connections",
        default=5,
        help="With Near Real-Time, the most folders of this mailbox watched at once "
        "(IMAP IDLE watches one folder per connection): INBOX first, then the synced "
        "folders where mail arrived most recently. The other synced folders are "
        "imported by the regular scheduled sync. Mail servers cap the connections of "
        "one user (Gmail 15, Dovecot 10 per address by default): leave room for the "
        "sync and the user's own mail programs.",
    )

    @api.constrains("idle_connection_limit")
    def _check_idle_connection_limit(self):
        for account in self:
            if account.idle_connection_limit < 1:
                raise ValidationError(
                    self.env._(
                        "%s: IDLE Connections must be at least 1 (INBOX).",
                        account.display_name,
                    )
                )

    def _idle_folders(self):
        """The server names of the folders IMAP IDLE watches on each account, best
        first, within each account's ``idle_connection_limit``: INBOX, then the synced
        folders where mail arrived most recently (the newest location), then the rest
        by name.

        :return: dict {account: [raw folder name, ...]}; accounts that cannot listen
            (inactive, IDLE off, not IMAP, no folder synced) are left out
        """
        accounts = self.filtered(
            lambda a: a.active and a.use_idle and a.host and a._session_class().can_idle
        )
        folders = accounts.folder_ids.filtered(
            lambda f: f.is_synced and f.exists_on_server and f.selectable
        )
        newest = {}
        if folders:
            # One query for every folder: the id of its newest location.
            self.env.cr.execute(
                SQL(
                    "SELECT folder_id, MAX(id) FROM crm_mail_email_location"
                    " WHERE folder_id IN %s GROUP BY folder_id",
                    tuple(folders.ids),
                )
            )
            newest = dict(self.env.cr.fetchall())
        result = {}
        by_account = folders.grouped("account_id")
        for account in accounts:
            own = by_account.get(account, folders.browse())
            ranked = own.sorted(lambda f: (f.name.upper() != "INBOX", -newest.get(f.id, 0), f.name))
            names = ranked[: account.idle_connection_limit].mapped("name")
            if names:
                result[account] = names
        return result

    @api.model
    def _idle_time_budget(self, spent=None):
        """Seconds a scheduled run of the listener may listen.

        ``crm_mail_sync.idle_time_budget`` (default 240), clamped to end
        ``IDLE_TIME_MARGIN`` seconds before Odoo kills the job (``limit_time_real_cron``,
        see ``lib.idle.cron_time_limit``), less ``spent``: by default the time the jobs
        run before it in the same round took, which count against the same limit (known
        in the threaded server, whose cron thread notes when the round started).
        """
        configured = float(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_sync.idle_time_budget", DEFAULT_IDLE_TIME_BUDGET)
        )
        limit = cron_time_limit(
            config["limit_time_real"], config["limit_time_real_cron"], config["workers"]
        )
        if spent is None:
            thread = threading.current_thread()
            started = getattr(thread, "start_time", None)
            is_cron = getattr(thread, "type", None) == "cron"
            spent = time.time() - started if started and is_cron else 0.0
        return listen_budget(configured, limit, spent=spent, margin=IDLE_TIME_MARGIN)

    @api.model
    def _idle_max_connections(self):
        """The most IMAP IDLE connections the listener opens in all
        (``crm_mail_sync.idle_max_connections``; 0 or less: no limit)."""
        value = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_sync.idle_max_connections", DEFAULT_IDLE_MAX_CONNECTIONS)
            or 0
        )
        return value if value > 0 else None

    @api.model
    def _cron_idle(self):
        """Scheduled entry point of near-real-time accounts (``sync_run.IdleListener``).

        For ``_idle_time_budget()`` seconds it keeps an IMAP IDLE connection on each
        watched folder (``_idle_folders``: INBOX first, at most
        ``idle_connection_limit`` per account, at most ``idle_max_connections`` in
        all, shared round by round among the accounts) and syncs an account as soon as
        its server announces mail in one of them. Then it asks Odoo to run it again at
        once, so that the listening goes on across runs.

        :return: the listener (``listener.opened`` counts the IDLE sessions opened)
        """
        # sudo: the listener serves every user's near-real-time mailboxes.
        accounts = self.sudo().search([("use_idle", "=", True), ("host", "!=", False)])
        rankings = [
            [(account, name) for name in names]
            for account, names in accounts._idle_folders().items()
        ]
        if not rankings:
            return IdleListener([], 0)
        if self._idle_time_budget(spent=0) < IDLE_MIN_BUDGET:
            _logger.info(
                "IMAP IDLE: not listening, the time a scheduled job may run "
                "(limit_time_real_cron) or crm_mail_sync.idle_time_budget is too short"
            )
            return IdleListener([], 0)
        budget = self._idle_time_budget()
        plan = plan_connections(rankings, self._idle_max_connections())
        skipped = sum(len(ranking) for ranking in rankings) - len(plan)
        if skipped:
            _logger.info(
                "IMAP IDLE: %s folder(s) beyond crm_mail_sync.idle_max_connections are "
                "left to the regular sync",
                skipped,
            )
        listener = IdleListener(plan, budget if budget >= IDLE_MIN_BUDGET else 0)
        listener.listen()
        if listener.listened_to_end:
            # The next run starts as soon as this one ends (the cron workers are woken
            # at commit), whatever the action's interval, which only restarts a run
            # after a failure: a run that lost all its connections waits for it.
            self.env.ref("crm_mail_sync.ir_cron_crm_mail_idle").sudo()._trigger()
        return listener
