# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Reply-time alerts on a lead: a reply posted on its chatter stops the clock of the
customer's mail waiting there (see crm_mail_email_reply.py)."""

from odoo import models

from .crm_mail_case_reply import _is_reply


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def _message_post_after_hook(self, message, msg_values):
        result = super()._message_post_after_hook(message, msg_values)
        if _is_reply(self, message):
            self.env["crm.mail.email"]._reply_answered({(self._name, self.id): message.date})
        return result
