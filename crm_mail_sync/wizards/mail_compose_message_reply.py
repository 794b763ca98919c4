# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""An email sent from a mailbox with the composer answers the mail waiting in the
cases and leads it is linked to: their reply-time clocks stop."""

from odoo import models


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    def _crm_mail_after_send(self, email, raw):
        result = super()._crm_mail_after_send(email, raw)
        # sudo: the clocks and alerts are the system's, whoever answers.
        email.sudo()._stop_reply_clocks()
        return result
