# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..lib import actions


class CrmMailDraft(models.Model):
    """An email being written: what the compose wizard held when the user saved it,
    or when sending failed. Reopening it brings the wizard back as it was."""

    _name = "crm.mail.draft"
    _description = "Email Draft"
    _order = "write_date desc, id desc"
    _rec_name = "subject"

    user_id = fields.Many2one(
        "res.users",
        string="Author",
        required=True,
        default=lambda self: self.env.user,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    account_id = fields.Many2one(
        "crm.mail.account",
        string="Send From",
        ondelete="set null",
        help="The mailbox the email will be sent from.",
    )
    subject = fields.Char()
    body = fields.Html(sanitize_style=True)
    partner_ids = fields.Many2many(
        "res.partner",
        "crm_mail_draft_partner_rel",
        "draft_id",
        "partner_id",
        string="To (Contacts)",
    )
    email_to = fields.Char(string="To (Addresses)")
    email_cc = fields.Char(string="Cc")
    email_bcc = fields.Char(string="Bcc")
    attachment_ids = fields.Many2many(
        "ir.attachment",
        "crm_mail_draft_attachment_rel",
        "draft_id",
        "attachment_id",
        string="Attachments",
    )
    record_attachment_ids = fields.Many2many(
        "ir.attachment",
        "crm_mail_draft_record_attachment_rel",
        "draft_id",
        "attachment_id",
        string="Attachments From the Record",
    )
    model = fields.Char(string="Written From (Model)", readonly=True)
    res_id = fields.Many2oneReference(
        string="Written From (Record)", model_field="model", readonly=True
    )
    record_name = fields.Char(compute="_compute_record_name", string="Written From")
    parent_email_id = fields.Many2one(
        "crm.mail.email",
        string="Answers",
        ondelete="set null",
        readonly=True,
        help="The email this one replies to or forwards.",
    )
    reply_mode = fields.Selection(
        [("reply", "Reply"), ("reply_all", "Reply All"), ("forward", "Forward")],
        readonly=True,
    )
    request_read_receipt = fields.Boolean()
    is_private = fields.Boolean(string="Private")
    add_signature = fields.Boolean(default=True)
    last_error = fields.Text(
        readonly=True, help="Why the last attempt to send this email failed, if it did."
    )

    @api.depends("model", "res_id")
    def _compute_record_name(self):
        for draft in self:
            record = (
                self.env[draft.model].browse(draft.res_id).exists()
                if draft.model in self.env and draft.res_id
                else None
            )
            draft.record_name = record.display_name if record else False

    def action_open_composer(self):
        """Button: reopen the compose wizard with this draft's content."""
        self.ensure_one()
        return actions.composer(self._get_composer_context(), self.env._("Write Email"))

    def _get_composer_context(self):
        """Hook: the ``default_*`` values that rebuild the compose wizard."""
        self.ensure_one()
        return {
            "default_composition_mode": "comment",
            "default_model": self.model or False,
            "default_res_ids": [self.res_id] if self.res_id else False,
            "default_crm_mail_draft_id": self.id,
            "default_crm_mail_account_id": self.account_id.id,
            "default_subject": self.subject or False,
            "default_body": self.body or False,
            "default_partner_ids": self.partner_ids.ids,
            "default_crm_mail_email_to": self.email_to or False,
            "default_crm_mail_email_cc": self.email_cc or False,
            "default_crm_mail_email_bcc": self.email_bcc or False,
            "default_attachment_ids": self.attachment_ids.ids,
            "default_crm_mail_record_attachment_ids": self.record_attachment_ids.ids,
            "default_crm_mail_parent_email_id": self.parent_email_id.id,
            "default_crm_mail_reply_mode": self.reply_mode or False,
            "default_crm_mail_read_receipt": self.request_read_receipt,
            "default_crm_mail_private": self.is_private,
            "default_email_add_signature": self.add_signature,
        }
