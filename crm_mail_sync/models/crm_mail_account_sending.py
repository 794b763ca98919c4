# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Mail going out of a mailbox: who may send from it, through which server and under
which address, its copy in the Sent folder, and the group mailbox that sends the
system's own mail."""

import socket
from email.utils import formataddr

from markupsafe import Markup

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression

from ..lib import errors as mail_errors
from ..lib.providers import PROVIDERS


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    signature = fields.Html(
        string="Mailbox Signature",
        sanitize_style=True,
        help="The signature of email sent from this group mailbox (e.g. the team's "
        "name, address and phone), used as the Signature setting says.",
    )
    signature_mode = fields.Selection(
        [
            ("mailbox", "The mailbox's signature"),
            ("user", "The sender's own signature"),
            ("both", "Both: the sender's, then the mailbox's"),
        ],
        string="Signature",
        default="mailbox",
        required=True,
        help="How email sent from this group mailbox is signed. Without a mailbox "
        "signature, the sender's own is used. Personal mailboxes always sign with "
        "their owner's signature.",
    )

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

    @api.constrains("is_default_sender", "account_type", "smtp_server_id", "company_id")
    def _check_default_sender(self):
        defaults = self.filtered("is_default_sender")
        if defaults:
            # sudo: the other companies' mailboxes count, whatever the user sees.
            counts = self.sudo()._read_group(
                [("is_default_sender", "=", True), ("company_id", "in", defaults.company_id.ids)],
                ["company_id"],
                ["__count"],
            )
            for company, count in counts:
                if count > 1:
                    raise ValidationError(
                        self.env._(
                            "Only one mailbox of %s can be its system default sender.",
                            company.display_name,
                        )
                    )
        for account in defaults:
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
        """Make Odoo's own mail-server selection send the system mail of the account's
        company through this account.

        Odoo sends a message through the server whose from-filter matches its From
        address; when none does, it sends From the default From address of the
        company's alias domain (keeping the author's name), through the server matching
        that. So the account's server is restricted to the account's address, and that
        address becomes the default From of the account's company, and of no other
        (``_get_default_sender_alias_domain``).
        """
        self.ensure_one()
        # sudo: mail servers and alias domains are system settings; only managers can
        # tick this box (group accounts are read-only for everyone else).
        server = self.smtp_server_id.sudo()
        filters = [part.strip() for part in (server.from_filter or "").split(",") if part.strip()]
        if not filters or not server._match_from_filter(self.email, server.from_filter):
            server.from_filter = ",".join([*filters, self.email])
        company = self.company_id.sudo()
        alias_domain = self._get_default_sender_alias_domain()
        alias_domain.default_from = self.email
        if company.alias_domain_id != alias_domain:
            company.alias_domain_id = alias_domain

    def _get_default_sender_alias_domain(self):
        """Hook: the alias domain whose default From this account becomes: its
        company's, when no other company shares it; else one of the company's own.

        Two companies on the same mail domain share one ``mail.alias.domain`` (Odoo
        gives a new company the first one): its default From is theirs both, so the
        company gets an alias domain of its own, on the mailbox's domain, whose
        catchall and bounce addresses are the mailbox's (answers and bounces come back
        to it, and it is synced).

        :raise UserError: when that domain cannot be created (its addresses are taken)
        """
        self.ensure_one()
        company = self.company_id.sudo()
        AliasDomain = self.env["mail.alias.domain"].sudo()
        alias_domain = company.alias_domain_id
        if alias_domain and not (alias_domain.company_ids - company):
            return alias_domain
        local_part, _at, domain_name = self.email.partition("@")
        candidates = AliasDomain.search([("name", "=", domain_name)])
        own = candidates.filtered(lambda domain: not (domain.company_ids - company))
        if own:
            return own[:1]
        taken = candidates.filtered(
            lambda domain: local_part in (domain.catchall_alias, domain.bounce_alias)
        )
        if taken:
            raise UserError(
                self.env._(
                    "%(company)s shares its email domain %(domain)s with %(others)s, and "
                    "%(address)s is already the catchall or bounce address of that domain: "
                    "give %(company)s an email domain of its own (Settings > Technical > "
                    "Email Domains) before making %(mailbox)s its default sender, so that "
                    "the other companies keep their settings.",
                    company=company.display_name,
                    domain=domain_name,
                    others=", ".join((taken.company_ids - company).mapped("display_name")),
                    address=self.email,
                    mailbox=self.display_name,
                )
            )
        # Answers to notifications and bounces come back to this mailbox, which is synced.
        return AliasDomain.create(
            {"name": domain_name, "catchall_alias": local_part, "bounce_alias": local_part}
        )

    def _clear_default_sender(self, address):
        """Give the default From of the account's company back to Odoo's
        'notifications' alias (the other companies' are not this account's)."""
        # sudo: see _apply_default_sender.
        domains = (
            self.env["mail.alias.domain"]
            .sudo()
            .search(
                [
                    ("default_from", "=", address),
                    "|",
                    ("company_ids", "in", self.company_id.ids),
                    ("company_ids", "=", False),
                ]
            )
        )
        domains.default_from = "notifications"

    def _formatted_address(self):
        self.ensure_one()
        return formataddr((self.name or "", self.email))

    def _can_send(self, user):
        """Whether ``user`` may send from this account."""
        self.ensure_one()
        if self.account_type == "personal":
            return bool(self._is_owned_by(user))
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
        # The companies selected in the switcher (those of the user, for another user).
        companies = self.env.companies if user == self.env.user else user.company_ids
        # sudo: the choice of senders is computed over the group mailboxes and the
        # user's own, then filtered by who may send from them.
        accounts = self.sudo().search(
            expression.AND(
                [
                    expression.OR([[("account_type", "=", "group")], self._owned_by_domain(user)]),
                    [("company_id", "in", companies.ids)],
                ]
            )
        )
        return accounts.filtered(lambda account: account._can_send(user))

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

    def _get_signature(self, user):
        """Hook: the HTML signature of an email ``user`` writes from this account:
        theirs on a personal account; on a group one, as its ``signature_mode`` says.

        :return: ``Markup``, empty when there is none
        """
        self.ensure_one()
        own = user.signature if not tools.is_html_empty(user.signature) else None
        if self.account_type != "group" or self.signature_mode == "user":
            return own or Markup()
        mailbox = self.signature if not tools.is_html_empty(self.signature) else None
        if self.signature_mode == "both":
            return Markup("<br/>").join(part for part in (own, mailbox) if part)
        return mailbox or own or Markup()

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
            with self._open_session() as session:
                uid = session.append(folder.name, raw, flags=("\\Seen",))
                status = session.status(folder.name) if uid else None
        except mail_errors.MailServerError as exc:
            raise UserError(self._format_server_error(exc)) from None
        if status and folder.uidvalidity and status.uidvalidity != folder.uidvalidity:
            uid = None  # the folder was recreated: the next sync rescans it
        return folder, uid

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

    def _can_file_sent_copy(self):
        """Whether mail sent from this account is filed in its Sent folder by Odoo."""
        self.ensure_one()
        return self.save_sent_copy and self._session_class().can_append
