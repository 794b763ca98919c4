# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import contextlib
import functools
import logging
import random
import socket
import threading
import time
from datetime import timedelta
from email.utils import formataddr

from psycopg2 import Error as PsycopgError
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..lib import errors as mail_errors
from ..lib.concurrency import ClaimLost, is_concurrency_error
from ..lib.imap_client import ImapSession, default_sync_folder_names, is_sent_folder
from ..lib.mime_parser import normalize_address
from ..lib.network_policy import AddressPolicy
from ..lib.pop3_client import Pop3Session
from ..lib.providers import PROVIDERS, provider_selection

_logger = logging.getLogger(__name__)

# First key of pg_advisory_lock(int, int) for the Message-IDs being stored ("CRM").
MESSAGE_LOCK_SPACE = 0x43524D


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


DEFAULT_PORTS = {
    ("imap", "ssl"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("pop3", "ssl"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
}
# POP3 has no folders: its single mailbox is stored as this pseudo-folder.
POP3_FOLDER_NAME = "INBOX"


class CrmMailAccount(models.Model):
    _name = "crm.mail.account"
    _description = "Mail Account"
    _order = "account_type, name, id"
    # How many times a scheduled run retries a batch that met a concurrent transaction.
    _sync_attempts = 8

    name = fields.Char(required=True, help="A name for this mailbox, e.g. 'Support'.")
    active = fields.Boolean(default=True)
    account_type = fields.Selection(
        [("group", "Group"), ("personal", "Personal")],
        string="Type",
        required=True,
        default="personal",
        help="Group: a shared mailbox such as support@, managed by administrators.\n"
        "Personal: one user's own mailbox.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        default=lambda self: self.env.user,
        index=True,
        ondelete="cascade",
        help="The user whose mailbox this is. Required for personal accounts.",
    )
    email = fields.Char(
        string="Email Address",
        required=True,
        help="The address of this mailbox. Mail sent from it is stored as outgoing.",
    )
    protocol = fields.Selection(
        [("imap", "IMAP"), ("pop3", "POP3")],
        required=True,
        default="imap",
        help="IMAP syncs several folders and the Sent folder; POP3 only reads the inbox.",
    )
    provider = fields.Selection(
        provider_selection(),
        help="A known provider fills in the IMAP server, its port and security.",
    )
    host = fields.Char(string="Server", help="Incoming mail server, e.g. imap.example.com.")
    port = fields.Integer(
        compute="_compute_port",
        store=True,
        readonly=False,
        help="Filled from the protocol and security; change it only for unusual servers.",
    )
    security = fields.Selection(
        [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None")],
        required=True,
        default="ssl",
        help="SSL/TLS encrypts from the first byte (ports 993/995); STARTTLS upgrades a "
        "plain connection (ports 143/110). 'None' sends the password in clear text.",
    )
    verify_tls = fields.Boolean(
        string="Verify Certificate",
        default=True,
        help="Check the server's TLS certificate and host name. Untick only for a server "
        "with a self-signed certificate that you trust.",
    )
    login = fields.Char(help="The user name on the mail server; often the email address.")
    password = fields.Char(
        compute="_compute_password",
        inverse="_inverse_password",
        copy=False,
        help="Readable only by the account's owner and Emails administrators. For "
        "mailboxes with two-factor authentication use an app password.",
    )
    # The secret itself: only the system group may read the column; the account's
    # owner and Emails administrators reach it through the compute above.
    password_secret = fields.Char(groups="base.group_system", copy=False, prefetch=False)
    team_ids = fields.Many2many(
        "crm.team",
        string="Teams",
        help="Sales teams the incoming emails of this group mailbox are assigned to.",
    )
    private_mailbox = fields.Boolean(
        string="Private Mailbox",
        help="Emails imported from this mailbox are private: only its owner and "
        "administrators see their content, and they are not shown in record chatter.",
    )
    is_shared = fields.Boolean(
        string="Shared for Sending",
        help="Users may send from this group mailbox, as allowed by 'Who May Send'.",
    )
    send_permission = fields.Selection(
        [("none", "Nobody"), ("team", "Members of its teams"), ("all", "All users")],
        string="Who May Send",
        default="team",
        required=True,
        help="Which users may pick this shared group mailbox as the sender of an email.",
    )
    create_cases = fields.Boolean(
        help="The first email of each conversation arriving in this group mailbox "
        "opens a case; later emails of the conversation join it.",
    )
    case_team_id = fields.Many2one(
        "crm.team",
        string="Case Team",
        help="Team of the new cases (default: the mailbox's first team).",
    )
    case_assignment = fields.Selection(
        [
            ("direct", "Direct"),
            ("round_robin", "Round-robin"),
            ("least_busy", "Least busy"),
        ],
        string="Distribution",
        default="round_robin",
        required=True,
        help="Direct: always the chosen user. Round-robin: the team's members in turn. "
        "Least busy: the member with the fewest open cases.",
    )
    case_user_id = fields.Many2one("res.users", string="Assign To")
    last_assigned_user_id = fields.Many2one(
        "res.users",
        readonly=True,
        copy=False,
        help="Whose turn it was last (round-robin), kept across restarts.",
    )
    reopen_closed_cases = fields.Boolean(
        default=True, help="A customer's reply on a closed case reopens it."
    )
    archive_create_cases = fields.Boolean(
        string="Cases From Archive Mail",
        help="Also open cases for mail imported in archive mode (no auto-reply).",
    )
    smtp_server_id = fields.Many2one(
        "ir.mail_server",
        string="Outgoing Server",
        help="SMTP server for mail sent from this mailbox: emails written in Odoo, "
        "replies on cases, auto-replies. 'Create Outgoing Server' pre-fills one from the "
        "provider or the incoming server.",
    )
    save_sent_copy = fields.Boolean(
        string="Save Copy in Sent Folder",
        compute="_compute_save_sent_copy",
        store=True,
        readonly=False,
        help="After sending, store a copy of the email in this mailbox's Sent folder "
        "over IMAP. Untick it for providers that file sent mail themselves (Gmail, "
        "Outlook, Yahoo, iCloud), or the copy would be there twice.",
    )
    use_idle = fields.Boolean(
        string="Near Real-Time (IMAP IDLE)",
        help="Keep a connection open on INBOX and import new mail as soon as the server "
        "announces it (IMAP IDLE), through the scheduled action 'IMAP IDLE listener'. "
        "The regular sync still polls every folder.",
    )
    is_default_sender = fields.Boolean(
        string="System Default Sender",
        copy=False,
        help="Odoo's notifications and other system mail go out through this group "
        "mailbox's outgoing server, From its address (users' names are kept as the "
        "display name). Only one mailbox can be the default sender.",
    )
    auto_reply_template_id = fields.Many2one(
        "mail.template",
        string="Auto-Reply",
        domain=[("model", "=", "crm.mail.case")],
        help="Sent to the customer when their email opens a case. Never sent to "
        "automatic mail, mailing lists or other robots.",
    )
    auto_reply_limit = fields.Integer(
        string="Auto-Replies per Sender",
        default=1,
        help="At most this many auto-replies per sender within the period.",
    )
    auto_reply_period_hours = fields.Integer(string="Period (hours)", default=24)
    excluded_domains = fields.Char(
        help="Comma-separated domains: mail exchanged with them is neither linked to "
        "records nor shared with other users (added to the global setting). The "
        "mailboxes' own addresses and the company's domains are never tested.",
    )
    filter_ids = fields.One2many("crm.mail.filter", "account_id", string="Filters")
    fetch_since = fields.Date(
        help="Only import mail received on or after this date; leave empty to import "
        "the whole mailbox.",
    )
    live_since = fields.Datetime(
        string="Live Since",
        copy=False,
        help="Mail the server received before this moment is imported in archive mode: "
        "stored and linked, but it notifies nobody, sends no auto-reply and assigns no "
        "case. Set when the account first connects.",
    )
    live_window_hours = fields.Integer(
        string="Live Window (hours)",
        default=0,
        help="When the account first connects, mail received during this many hours "
        "before is treated as live (e.g. 48 to still answer the last two days' mail); "
        "older mail is archive mail.",
    )
    batch_size = fields.Integer(
        default=200,
        help="How many messages are fetched and stored per transaction.",
    )
    max_attachment_size = fields.Integer(
        string="Attachment Size Cap (MB)",
        default=25,
        help="Attachments larger than this are not stored; the email keeps a note instead.",
    )
    timeout = fields.Integer(
        string="Timeout (s)",
        default=30,
        help="Network timeout for every operation on the mail server.",
    )
    folder_ids = fields.One2many("crm.mail.folder", "account_id", string="Folders")
    state = fields.Selection(
        [
            ("not_configured", "Not Configured"),
            ("connected", "Connected"),
            ("error", "Error"),
        ],
        default="not_configured",
        required=True,
        readonly=True,
        copy=False,
    )
    last_sync_at = fields.Datetime(string="Last Sync", readonly=True, copy=False)
    sync_lag = fields.Char(
        string="Lag",
        compute="_compute_sync_lag",
        help="How long ago the mailbox was last synced completely.",
    )
    initial_import_done = fields.Boolean(
        string="Initial Import Done",
        readonly=True,
        copy=False,
        help="The first complete import of the mailbox has finished.",
    )
    fetch_requested_by_id = fields.Many2one(
        "res.users",
        string="Fetch Requested By",
        readonly=True,
        copy=False,
        help="Told when the import of a large backlog that they started completes.",
    )
    last_error_advice = fields.Text(
        string="What to Do",
        compute="_compute_last_error_advice",
        help="Advice for the last error.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    last_error_at = fields.Datetime(readonly=True, copy=False)
    failure_count = fields.Integer(
        string="Consecutive Failures",
        readonly=True,
        copy=False,
        help="Failed runs in a row; the scheduled action waits longer after each.",
    )
    next_retry_at = fields.Datetime(
        string="Next Retry",
        readonly=True,
        copy=False,
        help="The scheduled action leaves a failing account alone until then; "
        "Fetch Now and Test Connection still work at once.",
    )
    email_count = fields.Integer(
        string="Emails Imported",
        readonly=True,
        copy=False,
        help="Emails this account has imported (an email also held by another "
        "account counts for both).",
    )
    quarantine_ids = fields.One2many("crm.mail.quarantine", "account_id")
    quarantine_count = fields.Integer(compute="_compute_quarantine_count")

    _sql_constraints = [
        (
            "batch_size_positive",
            "CHECK(batch_size > 0)",
            "The batch size must be positive.",
        ),
    ]

    @api.onchange("provider")
    def _onchange_provider(self):
        settings = PROVIDERS.get(self.provider)
        if settings:
            host, port, security = settings["imap"]
            self.update({"protocol": "imap", "host": host, "security": security})
            self.port = port
            if not self.login:
                self.login = self.email

    def _provider_smtp_values(self):
        """Hook: ir.mail_server values for this account's outgoing mail, pre-filled
        from its provider, or from its incoming server's host."""
        self.ensure_one()
        settings = PROVIDERS.get(self.provider)
        if settings:
            host, port, encryption = settings["smtp"]
        else:
            host = (self.host or "").replace("imap.", "smtp.", 1).replace("pop.", "smtp.", 1)
            port, encryption = 587, "starttls"
        return {
            "name": self.env._("%s (outgoing)", self.name),
            "smtp_host": host,
            "smtp_port": port,
            "smtp_encryption": encryption,
            "smtp_authentication": "login",
            "smtp_user": self.login or self.email,
            "from_filter": self.email,
        }

    @api.depends("last_sync_at")
    def _compute_sync_lag(self):
        now = fields.Datetime.now()
        for account in self:
            if not account.last_sync_at:
                account.sync_lag = self.env._("never synced")
                continue
            minutes = int((now - account.last_sync_at).total_seconds() // 60)
            if minutes < 1:
                account.sync_lag = self.env._("less than a minute")
            elif minutes < 120:
                account.sync_lag = self.env._("%s minutes", minutes)
            elif minutes < 48 * 60:
                account.sync_lag = self.env._("%s hours", minutes // 60)
            else:
                account.sync_lag = self.env._("%s days", minutes // (24 * 60))

    @api.depends("last_error", "state")
    def _compute_last_error_advice(self):
        for account in self:
            account.last_error_advice = (
                account._error_advice(account.last_error) if account.last_error else False
            )

    def _error_advice(self, error):
        """Hook: what the administrator can do about ``error``."""
        text = (error or "").lower()
        if "allowed mail hosts" in text:
            return self.env._(
                "This server is on a private or local network. If it is your company's mail "
                "server, an administrator can allow it under Settings > CRM > Synced Emails > "
                "Allowed Mail Hosts."
            )
        if "password" in text or "login" in text or "authenticat" in text:
            return self.env._(
                "Check the login and password. Mailboxes with two-factor authentication "
                "need an app password created at the provider."
            )
        if "tls" in text or "ssl" in text or "certificate" in text:
            return self.env._(
                "Check the security setting (SSL/TLS or STARTTLS) and its port; a self-signed "
                "certificate needs 'Verify TLS Certificate' unticked."
            )
        if "timed out" in text or "timeout" in text or "did not answer" in text:
            return self.env._(
                "The server answers too slowly: raise the timeout on the Sync tab, or try later."
            )
        if "refused" in text or "resolve" in text or "unreachable" in text or "connect" in text:
            return self.env._(
                "Check the server name and port, and that Odoo's machine may reach it (firewall)."
            )
        if "folder" in text:
            return self.env._(
                "Press Test Connection to refresh the folder list, then tick the folders to sync."
            )
        if "quarantine" in text:
            return self.env._(
                "Open the quarantine to see the messages that could not be imported and retry."
            )
        return self.env._("Press Test Connection to check the settings; the next run retries.")

    def _notify_users(self):
        """The users told about this account's imports: its owner and who asked."""
        return (self.user_id | self.fetch_requested_by_id).filtered(lambda user: not user.share)

    def _notify_import_progress(self, imported_total):
        """Tell the users how a long first import is going (sent at the next commit)."""
        if self.initial_import_done or not self._can_commit():
            return
        for user in self._notify_users():
            user._bus_send(
                "simple_notification",
                {
                    "type": "info",
                    "title": self.env._("Importing %s", self.display_name),
                    "message": self.env._("%s emails imported so far.", imported_total),
                },
            )

    def _mark_initial_import_done(self):
        self.ensure_one()
        if self.initial_import_done:
            return
        self.write({"initial_import_done": True, "fetch_requested_by_id": False})
        for user in self._notify_users():
            user._bus_send(
                "simple_notification",
                {
                    "type": "success",
                    "sticky": True,
                    "title": self.env._("%s is imported", self.display_name),
                    "message": self.env._(
                        "The initial import of the mailbox is complete: %s emails.",
                        self.email_count,
                    ),
                },
            )

    @api.depends("protocol", "provider")
    def _compute_save_sent_copy(self):
        for account in self:
            files_sent = PROVIDERS.get(account.provider, {}).get("files_sent", False)
            account.save_sent_copy = account.protocol == "imap" and not files_sent

    @api.depends("protocol", "security")
    def _compute_port(self):
        for account in self:
            account.port = DEFAULT_PORTS.get((account.protocol, account.security), 0)

    def _can_read_password(self):
        """Return whether the current user may see this account's password."""
        self.ensure_one()
        return (
            self.env.su
            or self.env.user.has_group("crm_mail_sync.group_crm_mail_manager")
            or self.user_id == self.env.user
        )

    @api.depends("password_secret")
    @api.depends_context("uid")
    def _compute_password(self):
        # sudo: the secret column is restricted to the system group; visibility is
        # decided here, per record.
        for account in self:
            account.password = (
                account.sudo().password_secret if account._can_read_password() else False
            )

    def _inverse_password(self):
        for account in self:
            # sudo: see _compute_password; whoever may edit the account may set it.
            account.sudo().password_secret = account.password

    def _export_rows(self, fields, *, _is_toplevel_call=True):
        # Exports never carry the password, whoever may read it: a spreadsheet travels
        # much further than the account's form. Here rather than in export_data, so
        # that paths through relations (folder -> account_id/password) are covered.
        lines = super()._export_rows(fields, _is_toplevel_call=_is_toplevel_call)
        secret = [
            i for i, path in enumerate(fields) if path[:1] in (["password"], ["password_secret"])
        ]
        for line in lines if secret else ():
            for index in secret:
                line[index] = ""
        return lines

    @api.depends("quarantine_ids")
    def _compute_quarantine_count(self):
        groups = self.env["crm.mail.quarantine"]._read_group(
            [("account_id", "in", self.ids), ("state", "=", "pending")],
            ["account_id"],
            ["__count"],
        )
        counts = {account.id: count for account, count in groups}
        for account in self:
            account.quarantine_count = counts.get(account.id, 0)

    @api.constrains("account_type", "user_id", "email")
    def _check_owner(self):
        for account in self:
            if account.account_type != "personal":
                continue
            if not account.user_id:
                raise ValidationError(self.env._("A personal mail account needs an owner."))
            if normalize_address(account.email) != normalize_address(account.user_id.email or ""):
                raise ValidationError(
                    self.env._(
                        "The address of a personal mail account must be its owner's "
                        "address (%(user)s: %(email)s).",
                        user=account.user_id.name,
                        email=account.user_id.email or self.env._("none"),
                    )
                )

    @api.constrains("batch_size", "max_attachment_size", "timeout")
    def _check_limits(self):
        for account in self:
            if account.max_attachment_size < 0 or account.timeout <= 0:
                raise ValidationError(
                    self.env._("The attachment size cap and the timeout must be positive.")
                )

    @api.constrains("is_default_sender", "account_type", "smtp_server_id")
    def _check_default_sender(self):
        if self.search_count([("is_default_sender", "=", True)]) > 1:
            raise ValidationError(self.env._("Only one mailbox can be the system default sender."))
        for account in self.filtered("is_default_sender"):
            if account.account_type != "group":
                raise ValidationError(
                    self.env._("Only a group mailbox can be the system default sender.")
                )
            if not account.smtp_server_id:
                raise ValidationError(
                    self.env._(
                        "%s needs an outgoing server to be the system default sender.",
                        account.display_name,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        for account in accounts.filtered("is_default_sender"):
            account._apply_default_sender()
        return accounts

    def write(self, vals):
        was_default = self.filtered("is_default_sender")
        old_addresses = {account.id: account.email for account in was_default}
        result = super().write(vals)
        if {"is_default_sender", "smtp_server_id", "email"} & set(vals):
            for account in was_default - self.filtered("is_default_sender"):
                account._clear_default_sender(old_addresses[account.id])
            for account in self.filtered("is_default_sender"):
                account._apply_default_sender()
        return result

    def _apply_default_sender(self):
        """Make Odoo's own mail-server selection send system mail through this account.

        Odoo sends a message through the server whose from-filter matches its From
        address; when none does, it sends From the companies' default From address
        (keeping the author's name), through the server matching that. So the account's
        server is restricted to the account's address, and that address becomes the
        default From of every company.
        """
        self.ensure_one()
        # sudo: mail servers and alias domains are system settings; only managers can
        # tick this box (group accounts are read-only for everyone else).
        server = self.smtp_server_id.sudo()
        filters = [part.strip() for part in (server.from_filter or "").split(",") if part.strip()]
        if not filters or not server._match_from_filter(self.email, server.from_filter):
            server.from_filter = ",".join([*filters, self.email])
        local_part, _at, domain_name = self.email.partition("@")
        AliasDomain = self.env["mail.alias.domain"].sudo()
        for company in self.env["res.company"].sudo().search([]):
            alias_domain = company.alias_domain_id
            if not alias_domain:
                alias_domain = AliasDomain.search([("name", "=", domain_name)], limit=1)
            if not alias_domain:
                # Answers to notifications come back to this mailbox, which is synced.
                alias_domain = AliasDomain.create(
                    {"name": domain_name, "catchall_alias": local_part}
                )
            alias_domain.default_from = self.email
            company.alias_domain_id = alias_domain

    def _clear_default_sender(self, address):
        """Give the default From back to Odoo's 'notifications' alias."""
        # sudo: see _apply_default_sender.
        domains = self.env["mail.alias.domain"].sudo().search([("default_from", "=", address)])
        domains.default_from = "notifications"

    def _get_excluded_domains(self):
        """This account's excluded domains plus the global ones."""
        self.ensure_one()
        global_domains = (
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.excluded_domains", "")
        )
        text = ",".join(filter(None, [global_domains, self.excluded_domains]))
        return [domain.strip() for domain in text.replace(";", ",").split(",") if domain.strip()]

    def _formatted_address(self):
        self.ensure_one()
        return formataddr((self.name or "", self.email))

    def _can_send(self, user):
        """Whether ``user`` may send from this account."""
        self.ensure_one()
        if self.account_type == "personal":
            return self.user_id == user
        if user.has_group("crm_mail_sync.group_crm_mail_manager"):
            return True
        if not self.is_shared or self.send_permission == "none":
            return False
        if self.send_permission == "all":
            return True
        teams = self.team_ids
        return user in teams.member_ids or user in teams.user_id

    @api.model
    def _get_sendable_accounts(self, user=None):
        """The active accounts ``user`` (default: the current user) may send from."""
        user = user or self.env.user
        # sudo: the choice of senders is computed over every account, then filtered.
        accounts = self.sudo().search([])
        return accounts.filtered(lambda account: account._can_send(user))

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    def action_create_smtp_server(self):
        """Button: create this mailbox's outgoing server, pre-filled from its provider
        or its incoming server, with the same login and password."""
        self.ensure_one()
        if not self.email:
            raise UserError(self.env._("Set the email address of %s first.", self.display_name))
        vals = self._provider_smtp_values()
        # sudo: the outgoing server is a system record; it is created for, and only
        # reachable through, an account the user may edit (checked just below).
        self.check_access("write")
        self._check_outgoing_host(vals["smtp_host"], vals["smtp_port"])
        vals["smtp_pass"] = self.sudo().password_secret or False
        self.smtp_server_id = self.env["ir.mail_server"].sudo().create(vals)
        return {
            "type": "ir.actions.act_window",
            "res_model": "ir.mail_server",
            "res_id": self.smtp_server_id.id,
            "view_mode": "form",
            "target": "new",
        }

    def _get_sender_address(self, user):
        """Hook: the From of an email ``user`` writes from this account: their own
        name on a personal account, the mailbox's name on a group one."""
        self.ensure_one()
        name = user.name if self.account_type == "personal" else self.name
        return formataddr((name or "", self.email))

    def _get_outgoing_server(self):
        """The ``ir.mail_server`` to send this account's mail with.

        The account's own server, else a server of the system that may send as its
        address (its from-filter matches); an empty recordset means Odoo's
        command-line SMTP settings, which then must allow the address.

        :raise UserError: when no server may send as the account's address
        """
        self.ensure_one()
        if self.smtp_server_id:
            return self.smtp_server_id
        # Odoo's own _find_mail_server would fall back on any server and rewrite the
        # From: a personal email must leave with its own address or not at all.
        IrMailServer = self.env["ir.mail_server"].sudo()
        servers = IrMailServer.search([], order="sequence")
        matching = servers.filtered(
            lambda server: (
                server.from_filter
                and IrMailServer._match_from_filter(self.email, server.from_filter)
            )
        )
        server = (matching or servers.filtered(lambda server: not server.from_filter))[:1]
        if server:
            return server
        if (
            not servers
            and tools.config.get("smtp_server")
            and IrMailServer._match_from_filter(self.email, IrMailServer._get_default_from_filter())
        ):
            return IrMailServer
        raise UserError(
            self.env._(
                "%(account)s has no outgoing server, and no other server may send as "
                "%(email)s: an administrator can set one on the mailbox ('Create Outgoing "
                "Server').",
                account=self.display_name,
                email=self.email,
            )
        )

    def _get_sent_folder(self):
        """The folder that keeps this account's sent mail, if the server has one."""
        self.ensure_one()
        folders = self.folder_ids.filtered(lambda f: f.is_sent and f.exists_on_server)
        return folders.sorted(lambda f: (f.special_use != "\\Sent", f.id))[:1]

    def _append_to_sent(self, raw):
        """Store a copy of a sent message in the Sent folder over IMAP.

        :return: ``(folder, uid)``; uid is None when the server does not tell it
        :raise UserError: when the copy cannot be stored (the mail is sent anyway)
        """
        self.ensure_one()
        folder = self._get_sent_folder()
        if not folder:
            raise UserError(
                self.env._(
                    "%s has no known Sent folder: use 'Test Connection' to list its folders.",
                    self.display_name,
                )
            )
        try:
            with self._session() as session:
                uid = session.append(folder.name, raw, flags=("\\Seen",))
                status = session.status(folder.name) if uid else None
        except mail_errors.MailServerError as exc:
            raise UserError(self._format_server_error(exc)) from None
        if status and folder.uidvalidity and status.uidvalidity != folder.uidvalidity:
            uid = None  # the folder was recreated: the next sync rescans it
        return folder, uid

    # ------------------------------------------------------------------
    # Connection
    # ------------------------------------------------------------------

    def _session(self):
        """Return an unopened IMAP or POP3 session for this account."""
        self.ensure_one()
        if not self.host:
            raise UserError(self.env._("Set the mail server of %s first.", self.display_name))
        cls = ImapSession if self.protocol == "imap" else Pop3Session
        return cls(
            self.host,
            self.port,
            self.security,
            self.login or self.email,
            # sudo: the sync runs as the caller, who may not be in the system group.
            self.sudo().password_secret or "",
            timeout=float(self.timeout or 30),
            verify_tls=self.verify_tls,
            ssl_context=self._get_ssl_context(),
            address_policy=self._get_address_policy(),
        )

    def _get_address_policy(self):
        """Hook: the ``AddressPolicy`` this account's connections obey; None for any address.

        A personal account of a user who is neither an Emails administrator nor a system
        administrator may not make the server connect to loopback, link-local or private
        addresses, unless an administrator allowed the host in Allowed Mail Hosts. The rule
        follows the account's owner, not the current user: the scheduled sync runs as the
        superuser for everyone's accounts.
        """
        self.ensure_one()
        if self.account_type == "group":
            return None
        # sudo: whoever runs the sync must learn the owner's groups.
        owner = self.user_id.sudo()
        if owner and (
            owner.has_group("crm_mail_sync.group_crm_mail_manager")
            or owner.has_group("base.group_system")
        ):
            return None
        # sudo: a system parameter, set by administrators, read for every user.
        allowed = (
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.allowed_mail_hosts", "")
        )
        return AddressPolicy.from_text(allowed)

    def _check_outgoing_host(self, host, port):
        """Refuse an outgoing server on ``host`` that this account may not connect to.

        Odoo's SMTP client connects wherever its server record says; a record made from
        the account's host would otherwise reach what the incoming side refuses.

        :raise UserError: when the address policy refuses every address of ``host``
        """
        self.ensure_one()
        policy = self._get_address_policy()
        if policy is None or not host:
            return
        try:
            addrinfos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            # A name that does not resolve reaches nothing: sending will say so.
            return
        try:
            policy.filter_addresses(host, port, addrinfos)
        except mail_errors.AddressRefused as exc:
            raise UserError(self._format_server_error(exc)) from None

    def _get_ssl_context(self):
        """Hook: return an ssl.SSLContext to use instead of the default one."""
        return None

    def action_test_connection(self):
        """Log in, list the server's folders and store them on the account.

        New folders are ticked for sync when they are INBOX or the Sent folder.
        """
        self.ensure_one()
        session = None
        try:
            session = self._session()
            with session:
                if self.protocol == "imap":
                    folders = session.list_folders()
                else:
                    session.list_uidls()
                    folders = None
        except mail_errors.MailServerError as exc:
            raise UserError(self._format_server_error(exc)) from None
        self._update_folders(folders)
        self._mark_connected()
        names = ", ".join(
            folder.display_label or folder.name for folder in self.folder_ids.filtered("is_synced")
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Connection successful"),
                "message": self.env._(
                    "%(count)s folders found; syncing: %(names)s.",
                    count=len(self.folder_ids),
                    names=names or self.env._("none"),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _format_server_error(self, exc):
        """Return the message shown to the user for a mail server error."""
        return self.env._("%(account)s: %(error)s", account=self.display_name, error=str(exc))

    def _mark_connected(self):
        vals = {
            "state": "connected",
            "last_error": False,
            "failure_count": 0,
            "next_retry_at": False,
        }
        if not self.live_since:
            vals["live_since"] = self._initial_live_since()
        self.write(vals)

    def _initial_live_since(self):
        """The moment mail starts being live: now, minus the live window."""
        return fields.Datetime.now() - timedelta(hours=max(self.live_window_hours, 0))

    def _update_folders(self, folder_infos):
        """Create or refresh folder records from the server's folder list.

        :param folder_infos: list of ``FolderInfo`` (IMAP) or ``None`` for POP3
        """
        self.ensure_one()
        Folder = self.env["crm.mail.folder"]
        existing = {
            folder.name: folder for folder in self.with_context(active_test=False).folder_ids
        }
        if folder_infos is None:
            if POP3_FOLDER_NAME not in existing:
                Folder.create(
                    {
                        "account_id": self.id,
                        "name": POP3_FOLDER_NAME,
                        "display_label": self.env._("Inbox"),
                        "is_synced": True,
                    }
                )
            return
        defaults = default_sync_folder_names(folder_infos)
        to_create = []
        seen = set()
        for info in folder_infos:
            seen.add(info.raw_name)
            vals = {
                "display_label": info.name,
                "special_use": info.special_use or False,
                "is_sent": is_sent_folder(info),
                "selectable": info.selectable,
                "exists_on_server": True,
            }
            folder = existing.get(info.raw_name)
            if folder:
                folder.write(vals)
            else:
                to_create.append(
                    dict(
                        vals,
                        account_id=self.id,
                        name=info.raw_name,
                        is_synced=info.selectable
                        and (info.raw_name in defaults or info.name in defaults),
                    )
                )
        Folder.create(to_create)
        gone = Folder.browse([folder.id for name, folder in existing.items() if name not in seen])
        gone.write({"exists_on_server": False})

    # ------------------------------------------------------------------
    # Sync
    # ------------------------------------------------------------------

    def action_sync(self):
        """Sync these accounts now, in the caller's transaction.

        A large backlog stops after a time budget; the scheduled action imports the
        rest, and the returned notification says so.
        """
        budget = float(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_sync.manual_sync_time_budget", 60)
        )
        # The caller must be allowed to manage these accounts; the import itself
        # writes the shared archive, which users only read.
        self.check_access("write")
        stats = self.sudo()._sync(deadline=time.monotonic() + budget, commit=False)
        if stats["locked"]:
            message = self.env._(
                "%s is being synced by another process; try again shortly.",
                ", ".join(stats["locked"].mapped("display_name")),
            )
            kind = "warning"
        elif stats["failed"]:
            message = "\n".join(stats["failed"].mapped("last_error"))
            kind = "danger"
        else:
            message = self.env._("%s new emails imported.", stats["imported"])
            kind = "success"
        if stats["incomplete"]:
            message += " " + self.env._(
                "More mail is waiting; it is imported in the background and you are "
                "told when it is done."
            )
            stats["incomplete"].sudo().fetch_requested_by_id = self.env.user
            self.env.ref("crm_mail_sync.ir_cron_crm_mail_sync").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "title": self.env._("Fetch now"),
                "message": message,
                "sticky": kind == "danger",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_idle(self):
        """Scheduled entry point of near-real-time accounts.

        For a few minutes (``crm_mail_sync.idle_time_budget``, 240 s: less than the
        action's interval) the job keeps one IMAP IDLE connection per account on its
        INBOX, waits on all of them at once, and syncs an account as soon as its
        server announces mail. An account whose IDLE fails is left to the regular
        polling sync until the next run.

        :return: the number of accounts listened to
        """
        budget = float(
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.idle_time_budget", 240)
        )
        deadline = time.monotonic() + budget
        # sudo: the listener serves every user's near-real-time mailboxes.
        accounts = self.sudo().search(
            [("use_idle", "=", True), ("protocol", "=", "imap"), ("host", "!=", False)]
        )
        listening = {}
        for account in accounts:
            folder = account._idle_folder()
            if folder:
                session = account._idle_open(folder)
                if session:
                    listening[session] = (account, folder)
        count = len(listening)
        try:
            while listening and (remaining := deadline - time.monotonic()) > 0:
                # RFC 2177: re-issue IDLE at least every 29 minutes.
                for session in ImapSession.idle_wait(list(listening), min(remaining, 29 * 60)):
                    account, folder = listening[session]
                    try:
                        if not session.idle_check():
                            continue
                        session.idle_done()
                    except mail_errors.MailServerError as exc:
                        _logger.info("IMAP IDLE on %s stopped: %s", account.display_name, exc)
                        del listening[session]
                        continue
                    account._sync(deadline=time.monotonic() + 60, commit=True)
                    session.close()
                    del listening[session]
                    session = account._idle_open(folder)
                    if session:
                        listening[session] = (account, folder)
        finally:
            for session in listening:
                with contextlib.suppress(mail_errors.MailServerError):
                    session.idle_done()
                session.close()
        return count

    def _idle_open(self, folder):
        """A connected session in IDLE on ``folder``, or None (logged) when it fails."""
        session = self._session()
        try:
            session.connect()
            session.idle_start(folder)
        except mail_errors.MailServerError as exc:
            _logger.info("IMAP IDLE on %s not possible: %s", self.display_name, exc)
            session.close()
            return None
        return session

    def _idle_folder(self):
        """The server name of the folder IDLE waits on (INBOX), if it is synced."""
        self.ensure_one()
        if not (self.active and self.use_idle and self.protocol == "imap" and self.host):
            return None
        inbox = self.folder_ids.filtered(lambda f: f.is_synced and f.name.upper() == "INBOX")
        return inbox[:1].name or None

    @api.model
    def _cron_sync(self):
        """Scheduled entry point: sync every active, configured account.

        Each batch is committed with its progress, and the cron's progress API is told
        how many accounts still have mail waiting so Odoo runs the job again soon.
        """
        budget = float(
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.cron_time_budget", 90)
        )
        # sudo: the scheduled action imports every user's mailbox.
        accounts = self.sudo().search(
            [
                ("host", "!=", False),
                "|",
                ("next_retry_at", "=", False),
                ("next_retry_at", "<=", fields.Datetime.now()),
            ]
        )
        stats = accounts._sync(deadline=time.monotonic() + budget, commit=True)
        self.env["ir.cron"]._notify_progress(
            done=len(accounts) - len(stats["incomplete"]),
            remaining=len(stats["incomplete"]),
        )
        return stats

    def _sync(self, deadline, commit):
        """Sync each account of ``self`` until ``deadline`` (time.monotonic()).

        :param bool commit: commit after every batch (scheduled runs only)
        :return: dict with ``imported`` (int), and recordsets ``incomplete`` (stopped
            by the deadline), ``failed`` and ``locked`` (synced elsewhere right now)
        """
        stats = {
            "imported": 0,
            "commands": 0,
            "incomplete": self.browse(),
            "failed": self.browse(),
            "locked": self.browse(),
        }
        for account in self:
            if time.monotonic() >= deadline:
                stats["incomplete"] |= account
                continue
            if not account._try_lock():
                stats["locked"] |= account
                continue
            account = account.with_context(crm_mail_sync_commit=commit)
            result = account._sync_one_retrying(deadline)
            if result is None:
                stats["locked"] |= account
                continue
            stats["imported"] += result["imported"]
            stats["commands"] += result["commands"]
            if result["error"]:
                stats["failed"] |= account
            if not result["complete"]:
                stats["incomplete"] |= account
            if account._can_commit():
                # This account is done: its claim goes with the transaction, so that a
                # worker never holds an account it no longer syncs.
                self.env.cr.commit()
        return stats

    def _try_lock(self):
        """Claim this account's row for the current transaction.

        The scheduled action and "Fetch now" (and several cron workers) never sync the
        same account at once; a claim dies with its transaction, so a crashed worker
        never leaves an account locked. NO KEY UPDATE: rows that merely reference the
        account (cases, folders) can still be written meanwhile.
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    "SELECT id FROM crm_mail_account WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                    (self.id,),
                    log_exceptions=False,
                )
                return bool(self.env.cr.fetchone())
        except PsycopgError as exc:
            # Under REPEATABLE READ, a row another worker changed since this
            # transaction's snapshot cannot be locked (serialization failure): that
            # worker has just been syncing the account, so it counts as taken.
            if not is_concurrency_error(exc):
                raise
            return False

    def _sync_one_retrying(self, deadline):
        """Run ``_sync_one``; after a concurrency error, again from the last committed batch.

        A serialization failure, a deadlock, or another worker storing the same
        message first aborts the batch being stored. Scheduled runs commit every
        batch, so the transaction is rolled back (losing only that batch), the
        account claimed again, and the run resumed in a new transaction that sees
        the other worker's changes, at most ``_sync_attempts`` times. "Fetch now"
        runs in the caller's transaction, which only Odoo's request retry can restart:
        there the error goes up.

        :return: the result of ``_sync_one``, or None when another worker claimed
            the account while this one waited to retry
        """
        self.ensure_one()
        for attempt in range(1, self._sync_attempts + 1):
            try:
                return self._sync_one(deadline)
            except ClaimLost:
                return None
            except PsycopgError as exc:
                if not (is_concurrency_error(exc) and self._can_commit()):
                    raise
                self.env.cr.rollback()
                # No query until the claim below: it starts the new transaction, whose
                # snapshot then sees everything committed while this one waited.
                if attempt == self._sync_attempts:
                    # Nothing is lost: progress is committed per batch and the next
                    # run resumes from there.
                    _logger.warning(
                        "Mail account id %s: batch still conflicting after %s attempts (%s); "
                        "left for the next run",
                        self.id,
                        attempt,
                        exc.pgcode,
                    )
                    return {"imported": 0, "commands": 0, "complete": False, "error": False}
                _logger.info(
                    "Mail account id %s: batch hit a concurrent transaction (%s: %s); "
                    "retrying from the last committed batch (attempt %s of %s)",
                    self.id,
                    exc.pgcode,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    attempt + 1,
                    self._sync_attempts,
                )
                # A short random back-off (at most 0.5 s): the other transaction has
                # usually committed already; what the retry needs is a new snapshot,
                # and workers that collided should not retry in step.
                time.sleep(random.uniform(0, min(0.02 * 2**attempt, 0.5)))
                if not self._try_lock():
                    return None
        return None

    def _can_commit(self):
        return self.env.context.get("crm_mail_sync_commit") and not getattr(
            threading.current_thread(), "testing", False
        )

    def _commit_progress(self):
        """Commit the work done so far, on scheduled runs only.

        Tests forbid commits, and "Fetch now" runs in the caller's transaction; both
        still go through the same batches. After a commit the account's row lock is
        taken again; when someone else claimed it meanwhile, ``ClaimLost`` ends this
        account's run (``_sync_one_retrying`` reports it as taken).
        """
        if not self._can_commit():
            return True
        self.env.cr.commit()
        if not all(account._try_lock() for account in self):
            # Not a mere False: nothing more may be written for the account, not even
            # its last sync date, once another worker holds it.
            raise ClaimLost()
        return True

    # PostgreSQL's lock table is shared by all sessions and bounded (by default 64
    # locks per connection slot): larger batches are stored without reserving.
    _message_lock_limit = 1000

    def _reserve_messages(self, message_ids):
        """Make this worker the only one storing these messages until its batch ends.

        Two workers that meet the same new message (the same newsletter in two
        mailboxes) would both insert it: the second waits for the first, fails on the
        unique key, and must redo its whole batch in a new transaction, because its
        snapshot cannot see the first one's email. Instead each worker first locks
        the Message-IDs it is about to store (advisory locks, taken in one order so
        that workers cannot deadlock on them); one that had to wait then needs a
        snapshot taken after the other one committed, and only records a location.

        Only on scheduled runs, which commit per batch: the locks belong to the
        database session, outlive a commit that renews the snapshot here, and are
        released when the batch's transaction ends, committed or not. "Fetch now"
        runs in one transaction, which can neither renew its snapshot nor hold a lock
        per message of a whole import; it meets the others as before (the unique
        key, then the retry of ``_sync_one_retrying`` or of Odoo's request).

        :param list message_ids: keys (``message_id``) of the emails to be created
        :return: True when the transaction was renewed, so the caller must look
            again which of the messages are stored already
        :raise ClaimLost: another worker claimed the account during the renewal
        """
        self.ensure_one()
        if not message_ids or len(message_ids) > self._message_lock_limit or not self._can_commit():
            return False
        cr = self.env.cr
        keys = SQL(
            "(SELECT DISTINCT hashtext(k) AS h FROM unnest(%s::text[]) AS k ORDER BY h) AS keys",
            list(message_ids),
        )
        cr.execute(SQL("SELECT h, pg_advisory_lock(%s, h) FROM %s", MESSAGE_LOCK_SPACE, keys))
        hashes = [row[0] for row in cr.fetchall()]
        release = functools.partial(_release_message_locks, cr, hashes)
        # Nothing of this batch is written yet: the commit only renews the snapshot.
        cr.postrollback.add(release)
        cr.commit()
        cr.postcommit.add(release)
        cr.postrollback.add(release)
        if not self._try_lock():
            raise ClaimLost()
        return True

    def _sync_one(self, deadline):
        """Sync this account; record the outcome on it. Never raises for server errors."""
        self.ensure_one()
        result = {"imported": 0, "complete": True, "error": False, "warnings": []}
        if not self.live_since:
            # Everything already in the mailbox at the first sync is archive mail.
            self.live_since = self._initial_live_since()
        session = None
        try:
            session = self._session()
            with session:
                if self.protocol == "imap":
                    self._sync_imap(session, deadline, result)
                else:
                    self._sync_pop3(session, deadline, result)
        except mail_errors.MailServerError as exc:
            result["error"] = True
            self._record_error(str(exc))
        except UserError as exc:
            result["error"] = True
            self._record_error(exc.args[0])
        else:
            if result["complete"]:
                self._mark_initial_import_done()
            now = fields.Datetime.now()
            self.write(
                {
                    "last_sync_at": now,
                    "state": "connected",
                    "last_error": "\n".join(result["warnings"]) or False,
                    "last_error_at": now if result["warnings"] else self.last_error_at,
                    "failure_count": 0,
                    "next_retry_at": False,
                }
            )
        # Commands sent to the server, for the "nothing new costs one STATUS per
        # folder" promise.
        result["commands"] = getattr(session, "command_count", 0)
        return result

    def _record_error(self, message):
        """Record a failed run; the scheduled action backs off before trying again."""
        _logger.warning("Mail account %s (id %s): sync failed: %s", self.name, self.id, message)
        now = fields.Datetime.now()
        failures = self.failure_count + 1
        self.write(
            {
                "state": "error",
                "last_error": message,
                "last_error_at": now,
                "failure_count": failures,
                "next_retry_at": now + self._retry_delay(failures),
            }
        )

    def _retry_delay(self, failures):
        """Hook: wait after ``failures`` consecutive failures: 5 min doubling, capped at 6 h,
        so a failing server is not hammered every run."""
        return timedelta(minutes=min(5 * 2 ** (failures - 1), 360))

    def _sync_imap(self, session, deadline, result):
        if not self.folder_ids:
            self._update_folders(session.list_folders())
        for folder in self.folder_ids.filtered(lambda f: f.is_synced and f.exists_on_server):
            if time.monotonic() >= deadline:
                result["complete"] = False
                return
            folder._sync_imap(session, deadline, result)

    def _sync_pop3(self, session, deadline, result):
        if not self.folder_ids:
            self._update_folders(None)
        folder = self.folder_ids.filtered(lambda f: f.name == POP3_FOLDER_NAME)[:1]
        folder._sync_pop3(session, deadline, result)
