# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Mail going out of a mailbox: who may send from it, through which server and under
which address, its copy in the Sent folder, and the group mailbox that sends the
system's own mail."""

import socket
from email.utils import formataddr

from odoo import api, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression

from ..lib import errors as mail_errors
from ..lib.providers import PROVIDERS


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

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
        # sudo: the choice of senders is computed over the group mailboxes and the
        # user's own, then filtered by who may send from them.
        accounts = self.sudo().search(
            expression.OR([[("account_type", "=", "group")], self._owned_by_domain(user)])
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
