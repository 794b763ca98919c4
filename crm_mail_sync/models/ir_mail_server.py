# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    def _smtp_login(self, connection, smtp_user, smtp_password):
        """The outgoing server of a mail account that signs in with OAuth logs in with
        that account's token (XOAUTH2): one token per account, for IMAP, POP3 and SMTP."""
        account = self._crm_mail_oauth_account(smtp_user) if len(self) == 1 else None
        if account:
            return account._smtp_oauth_login(connection, smtp_user)
        return super()._smtp_login(connection, smtp_user, smtp_password)

    def _crm_mail_oauth_account(self, smtp_user):
        """The OAuth mail account whose outgoing server this is (its login first)."""
        if self.smtp_authentication != "login":
            return None
        # sudo: any user's mail may go out through the server; the account is only
        # used for its token, never shown.
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .search([("smtp_server_id", "=", self.id), ("auth_method", "!=", "password")])
        )
        same_login = accounts.filtered(
            lambda account: (
                (account.login or account.email or "").lower() == (smtp_user or "").lower()
            )
        )
        return (same_login or accounts)[:1]
