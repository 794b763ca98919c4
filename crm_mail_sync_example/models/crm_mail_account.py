# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    imap_sasl_plain = fields.Boolean(
        string="Log in with SASL PLAIN",
        help="For IMAP servers that refuse the LOGIN command (LOGINDISABLED).",
    )

    def _imap_login(self, session):
        """SASL PLAIN (RFC 4616) through AUTHENTICATE instead of LOGIN, when ticked."""
        if not self.imap_sasl_plain:
            return super()._imap_login(session)
        # sudo: the sync runs as whoever triggers it; the password is the account's.
        session.conn.plain_login(session.login, self.sudo().password_secret or "")
