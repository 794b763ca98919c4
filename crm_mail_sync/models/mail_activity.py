# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A reply-time alert marked as done (the customer was called, answered elsewhere)
ends the wait: the case's or lead's emails are no longer overdue."""

from odoo import fields, models


class MailActivity(models.Model):
    _inherit = "mail.activity"

    def _action_done(self, feedback=False, attachment_ids=None):
        alert_type = self.env.ref(
            "crm_mail_sync.mail_activity_type_reply_alert", raise_if_not_found=False
        )
        # Read before: done activities are deleted (or archived).
        answered = {
            (activity.res_model, activity.res_id): fields.Datetime.now()
            for activity in self
            if alert_type and activity.activity_type_id == alert_type
        }
        result = super()._action_done(feedback=feedback, attachment_ids=attachment_ids)
        if answered:
            self.env["crm.mail.email"]._reply_answered(answered)
        return result
