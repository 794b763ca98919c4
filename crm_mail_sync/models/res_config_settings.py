# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib.network_policy import invalid_entries


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crm_mail_sync_excluded_domains = fields.Char(
        string="Excluded Email Domains",
        config_parameter="crm_mail_sync.excluded_domains",
        help="Comma-separated domains: synced mail exchanged with them (a sender or "
        "recipient other than your own mailboxes and company domains) is neither linked "
        "to records nor shared with other users, e.g. a law firm's domain.",
    )
    crm_mail_sync_allowed_mail_hosts = fields.Char(
        string="Allowed Mail Hosts",
        config_parameter="crm_mail_sync.allowed_mail_hosts",
        help="Comma-separated host names, IP addresses and networks (e.g. "
        "mail.intranet.example, 10.0.0.5, 192.168.10.0/24). The personal mail accounts "
        "of users who are not administrators may not reach loopback, link-local or "
        "private addresses unless they are listed here; a host name allows the accounts "
        "whose server is that name.",
    )

    crm_mail_sync_idle_max_connections = fields.Integer(
        string="IMAP IDLE Connections",
        config_parameter="crm_mail_sync.idle_max_connections",
        default=50,
        help="The most IMAP IDLE connections the listener keeps open for all "
        "near-real-time mailboxes together (one per watched folder, within each "
        "mailbox's own IDLE Connections): every mailbox's INBOX first, then each one's "
        "next folder, and so on. Folders beyond it are imported by the regular sync.",
    )
    crm_mail_sync_idle_time_budget = fields.Integer(
        string="IMAP IDLE Listening Time",
        config_parameter="crm_mail_sync.idle_time_budget",
        default=240,
        help="Seconds one run of the scheduled action 'IMAP IDLE listener' listens "
        "before the next run takes over. A run always ends 20 seconds before Odoo's "
        "time limit for scheduled jobs (limit_time_real_cron, else limit_time_real: "
        "120 seconds by default), whatever is set here.",
    )

    @api.constrains("crm_mail_sync_idle_max_connections", "crm_mail_sync_idle_time_budget")
    def _check_crm_mail_sync_idle(self):
        for settings in self:
            if settings.crm_mail_sync_idle_max_connections < 0:
                raise ValidationError(self.env._("IMAP IDLE Connections cannot be negative."))
            if settings.crm_mail_sync_idle_time_budget < 0:
                raise ValidationError(self.env._("IMAP IDLE Listening Time cannot be negative."))

    @api.constrains("crm_mail_sync_allowed_mail_hosts")
    def _check_crm_mail_sync_allowed_mail_hosts(self):
        for settings in self:
            invalid = invalid_entries(settings.crm_mail_sync_allowed_mail_hosts)
            if invalid:
                raise ValidationError(
                    self.env._(
                        "Allowed Mail Hosts takes host names, IP addresses and networks "
                        "(no ports): %s",
                        ", ".join(invalid),
                    )
                )
