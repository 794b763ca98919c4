# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Reply-time alerts on a case: the board's overdue mark, and replies posted on the
case's chatter stopping the clock (see crm_mail_email_reply.py)."""

from odoo import fields, models


class CrmMailCase(models.Model):
    _inherit = "crm.mail.case"

    is_reply_overdue = fields.Boolean(
        string="Reply Overdue",
        readonly=True,
        copy=False,
        index=True,
        help="A customer's email in this case got no reply within its mailbox's "
        "reply-time alert delay; an activity is scheduled for the assignee.",
    )

    def write(self, vals):
        result = super().write(vals)
        if "stage_id" in vals:
            # A case closed without a reply waits for nothing any more (a converted
            # one goes on waiting in its opportunity).
            closed = self.filtered(lambda case: case.is_closed and not case.lead_id)
            if closed:
                self.env["crm.mail.email"]._reply_cases_closed(closed)
        return result

    def _message_post_after_hook(self, message, msg_values):
        result = super()._message_post_after_hook(message, msg_values)
        if _is_reply(self, message):
            self.env["crm.mail.email"]._reply_answered({(self._name, self.id): message.date})
        return result


def _is_reply(record, message):
    """Whether ``message``, just posted on ``record``, answers its customer: a message
    (not a note) written by an internal user, which Odoo mails to the followers."""
    return (
        len(record) == 1
        and message.message_type == "comment"
        and message.subtype_id
        and not message.subtype_id.internal
        and not record.env.user.share
    )
