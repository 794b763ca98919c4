# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import actions
from ..lib import errors as mail_errors
from ..lib.addresses import address_forms, normalize_address
from ..lib.filters import parse_domains
from ..lib.providers import PROVIDERS, provider_selection
from ..sync_run import SyncRun

_logger = logging.getLogger(__name__)

DEFAULT_PORTS = {
    ("imap", "ssl"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("pop3", "ssl"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
}


class CrmMailAccount(models.Model):
    _name = "crm.mail.account"
    _description = "Mail Account"
    _order = "account_type, name, id"

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
        help="The address of this mailbox. Mail sent from it is stored as outgoing. A "
        "personal mailbox uses one of its owner's addresses: the main one, or an "
        "additional one an Emails administrator confirmed (Emails > Configuration > "
        "User Addresses); a user may have a personal mailbox on each.",
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
    auth_method = fields.Selection(
        [("password", "Password")],
        string="Authentication",
        default="password",
        required=True,
        help="How Odoo signs in to this mailbox (IMAP or POP3, and its outgoing server).\n"
        "Password: the login and password (or an app password).\n"
        "Google OAuth / Microsoft OAuth: the mailbox's owner signs in at the provider "
        "once with 'Connect'; Odoo keeps a token, never a password. Offered by the "
        "add-ons crm_mail_sync_google and crm_mail_sync_microsoft, installed with this "
        "one; an administrator enters the OAuth client id and secret under Settings > "
        "General Settings > Emails.",
    )
    auth_method_info = fields.Text(
        string="About Authentication", compute="_compute_auth_method_info"
    )
    oauth_connected = fields.Boolean(
        string="Signed In",
        compute="_compute_oauth_connected",
        help="The mailbox's owner gave their consent at the provider, and Odoo holds a "
        "token to renew its access.",
    )
    oauth_action = fields.Selection(
        [("connect", "Connect"), ("reconnect", "Reconnect")],
        string="Sign-in Button",
        compute="_compute_oauth_action",
        help="Which sign-in button the form offers.",
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
    conversation_action = fields.Selection(
        [("none", "Nothing"), ("case", "Case"), ("lead", "Lead / Opportunity")],
        string="New Conversations",
        default="none",
        required=True,
        help="What the first email of a new conversation arriving in this group mailbox "
        "opens. Case: a case, which the later emails of the conversation join. "
        "Lead / Opportunity: a lead or opportunity of the mailbox's sales team, in whose "
        "chatter the later emails show. Automatic mail and mail we sent never open "
        "one; robots, mailing lists and this database's own mailboxes open no lead.",
    )
    create_cases = fields.Boolean(
        compute="_compute_create_cases",
        inverse="_inverse_create_cases",
        store=True,
        readonly=False,
        help="The first email of each conversation arriving in this group mailbox "
        "opens a case; later emails of the conversation join it ('New Conversations' "
        "is 'Case').",
    )
    case_team_id = fields.Many2one(
        "crm.team",
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
        string="Open From Archive Mail",
        help="Also open cases or leads (as 'New Conversations' says) for mail imported "
        "in archive mode (no auto-reply).",
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
    plus_address_replies = fields.Boolean(
        string="Tag Reply-To with the Record",
        help="Mail sent from a record (a case, a lead, a contact) asks for replies at "
        "this mailbox's address with a signed tag (support+case17-...@), so that a "
        "reply joins the record even when its subject and references are lost. Tick "
        "it only when the mail server delivers name+anything@ to name@ (plus "
        "addressing: Gmail, Microsoft 365, Dovecot and Postfix with a recipient "
        "delimiter), or such replies bounce.",
    )
    use_idle = fields.Boolean(
        string="Near Real-Time (IMAP IDLE)",
        help="Keep connections open on INBOX and the other synced folders (one each, up "
        "to IDLE Connections) and import new mail as soon as the server announces it "
        "(IMAP IDLE), through the scheduled action 'IMAP IDLE listener'. The regular "
        "sync still polls every folder, those beyond the limit included.",
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
        readonly=True,
        copy=False,
        help="The first complete import of the mailbox has finished.",
    )
    fetch_requested_by_id = fields.Many2one(
        "res.users",
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
            oauth = settings.get("oauth")
            if oauth and oauth in self._fields["auth_method"].get_values(self.env):
                self.auth_method = oauth

    @api.depends("provider", "auth_method")
    def _compute_auth_method_info(self):
        methods = self._fields["auth_method"].get_values(self.env)
        for account in self:
            settings = PROVIDERS.get(account.provider) or {}
            oauth = settings.get("oauth")
            notes = []
            if oauth == "google":
                notes.append(
                    self.env._(
                        "Google accepts a password here only as an app password, which "
                        "needs 2-Step Verification, and Google Workspace administrators "
                        "can forbid them: sign in with Google OAuth instead."
                    )
                )
            elif oauth == "microsoft":
                notes.append(
                    self.env._(
                        "Microsoft switched off password (basic) authentication for IMAP, "
                        "POP3 and SMTP in Exchange Online: Microsoft 365 mailboxes sign in "
                        "with Microsoft OAuth."
                    )
                )
            if oauth and oauth not in methods:
                notes.append(
                    self.env._(
                        "To sign in with OAuth, an administrator installs the add-on "
                        "%(module)s (Apps).",
                        module=settings.get("oauth_module"),
                    )
                )
            if account.auth_method != "password":
                notes.append(account._oauth_setup_missing() or "")
            account.auth_method_info = "\n".join(note for note in notes if note) or False

    def _compute_oauth_connected(self):
        """Hook: whether the account holds a refresh token (bridges answer for their
        own authentication method)."""
        for account in self:
            account.oauth_connected = False

    @api.depends("auth_method", "state", "oauth_connected")
    def _compute_oauth_action(self):
        for account in self:
            if account.auth_method == "password":
                account.oauth_action = False
            elif not account.oauth_connected:
                account.oauth_action = "connect"
            else:
                account.oauth_action = "reconnect" if account.state == "error" else False

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
        """Hook: what the administrator can do about ``error`` (``lib.errors.ADVICE``)."""
        return self.env._(mail_errors.advice_for(error))

    def _notify_users(self):
        """The users told about this account's imports: its owner and who asked."""
        return (self.user_id | self.fetch_requested_by_id).filtered(lambda user: not user.share)

    @api.depends("conversation_action")
    def _compute_create_cases(self):
        for account in self:
            account.create_cases = account.conversation_action == "case"

    def _inverse_create_cases(self):
        # The former checkbox, still written by older code and data: ticked, the
        # mailbox opens cases; unticked, a case mailbox opens nothing (a lead mailbox
        # stays one).
        for account in self:
            if account.create_cases:
                account.conversation_action = "case"
            elif account.conversation_action == "case":
                account.conversation_action = "none"

    @api.depends("protocol", "provider")
    def _compute_save_sent_copy(self):
        for account in self:
            files_sent = PROVIDERS.get(account.provider, {}).get("files_sent", False)
            # Only a protocol that can file a message (IMAP APPEND) keeps a Sent copy.
            can_append = bool(account.protocol) and account._session_class().can_append
            account.save_sent_copy = can_append and not files_sent

    @api.depends("protocol", "security")
    def _compute_port(self):
        for account in self:
            account.port = DEFAULT_PORTS.get((account.protocol, account.security), 0)

    def _is_owned_by(self, user):
        """Which of these accounts are personal mailboxes of ``user`` (a recordset)."""
        return self.filtered(
            lambda account: account.account_type == "personal" and account.user_id == user
        )

    @api.model
    def _owned_by_domain(self, user):
        """The search domain of the personal mailboxes of ``user``."""
        return [("account_type", "=", "personal"), ("user_id", "=", user.id)]

    def _own_addresses(self):
        """The normalised addresses of these mailboxes."""
        return {normalize_address(address) for address in self.mapped("email") if address}

    def _owners(self):
        """The users owning these accounts (personal mailboxes; group ones have none)."""
        return self.filtered(lambda account: account.account_type == "personal").user_id

    def _can_read_password(self):
        """Return whether the current user may see this account's password."""
        self.ensure_one()
        return (
            self.env.su
            or self.env.user.has_group("crm_mail_sync.group_crm_mail_manager")
            or bool(self._is_owned_by(self.env.user))
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

    def _secret_field_names(self):
        """Hook: the fields never exported, whoever may read them (password, tokens)."""
        return {"password", "password_secret"}

    def _export_rows(self, fields, *, _is_toplevel_call=True):
        # Exports never carry the password, whoever may read it: a spreadsheet travels
        # much further than the account's form. Here rather than in export_data, so
        # that paths through relations (folder -> account_id/password) are covered.
        lines = super()._export_rows(fields, _is_toplevel_call=_is_toplevel_call)
        names = self._secret_field_names()
        secret = [i for i, path in enumerate(fields) if path[:1] and path[0] in names]
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
        personal = self.filtered(lambda account: account.account_type == "personal")
        if not personal:
            return
        if not all(personal.mapped("user_id")):
            raise ValidationError(self.env._("A personal mail account needs an owner."))
        # A user may have several personal mailboxes, each on one of the user's
        # addresses: the main one or an additional one an administrator confirmed.
        addresses_of = personal.user_id._crm_mail_addresses()
        for account in personal:
            address = normalize_address(account.email)
            allowed = addresses_of[account.user_id.id]
            allowed_forms = {form for known in allowed for form in address_forms(known)}
            if address and set(address_forms(address)) & allowed_forms:
                continue
            # sudo: say why, whoever creates the mailbox.
            pending = (
                self.env["crm.mail.user.address"]
                .sudo()
                .search_count(
                    [
                        ("user_id", "=", account.user_id.id),
                        ("email_normalized", "=", address),
                        ("confirmed", "=", False),
                    ]
                )
            )
            if pending:
                raise ValidationError(
                    self.env._(
                        "%(address)s is waiting for an Emails administrator to confirm it "
                        "as an address of %(user)s: a personal mailbox can use it once "
                        "confirmed.",
                        address=address,
                        user=account.user_id.name,
                    )
                )
            raise ValidationError(
                self.env._(
                    "The address of a personal mail account must be one of its owner's "
                    "addresses (%(user)s: %(addresses)s). An Emails administrator can "
                    "confirm more addresses for a user under Emails > Configuration > "
                    "User Addresses.",
                    user=account.user_id.name,
                    addresses=", ".join(sorted(allowed)) or self.env._("none"),
                )
            )

    @api.constrains("batch_size", "max_attachment_size", "timeout")
    def _check_limits(self):
        for account in self:
            if account.max_attachment_size < 0 or account.timeout <= 0:
                raise ValidationError(
                    self.env._("The attachment size cap and the timeout must be positive.")
                )

    def _get_excluded_domains(self):
        """This account's excluded domains plus the global ones."""
        self.ensure_one()
        global_domains = (
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.excluded_domains", "")
        )
        return parse_domains(global_domains) + parse_domains(self.excluded_domains)

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
        return actions.notification(
            message,
            kind=kind,
            title=self.env._("Fetch now"),
            sticky=kind == "danger",
            then=actions.SOFT_RELOAD,
        )

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
        """Sync these accounts until ``deadline`` (time.monotonic()), in a ``SyncRun``.

        :param bool commit: commit after every batch (scheduled runs only)
        :return: the run's statistics (see ``SyncRun.run``)
        """
        return SyncRun(self, deadline, commit).run()

    def _sync_folders(self, session, run):
        """Import the new mail of each synced folder (listing the folders first when the
        account has none yet), in the account's run."""
        self.ensure_one()
        if not self.folder_ids:
            self._update_folders(session.list_folders())
        for folder in self.folder_ids.filtered(lambda f: f.is_synced and f.exists_on_server):
            if run.out_of_time():
                run.incomplete()
                return
            folder._sync(session, run)

    def _record_success(self, warnings):
        """Record a run that went to its end; ``warnings`` are shown on the form."""
        now = fields.Datetime.now()
        self.write(
            {
                "last_sync_at": now,
                "state": "connected",
                "last_error": "\n".join(warnings) or False,
                "last_error_at": now if warnings else self.last_error_at,
                "failure_count": 0,
                "next_retry_at": False,
            }
        )

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
