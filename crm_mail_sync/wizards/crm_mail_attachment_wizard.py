# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..lib import actions
from ..models.crm_mail_linking import linkable_models_selection


class CrmMailAttachmentWizard(models.TransientModel):
    _name = "crm.mail.attachment.wizard"
    _description = "Save Email Attachments to a Record"

    email_id = fields.Many2one("crm.mail.email", required=True)
    attachment_ids = fields.Many2many(
        "ir.attachment",
        string="Files",
        help="The email's files to copy onto the record.",
    )
    available_attachment_ids = fields.Many2many(
        "ir.attachment", compute="_compute_available_attachment_ids"
    )
    target = fields.Reference(
        selection=linkable_models_selection,
        string="Save To",
        required=True,
        help="A record the email is linked to, or any other contact, company, lead or case.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        email = self.env["crm.mail.email"].browse(values.get("email_id"))
        if email:
            if "attachment_ids" in fields_list:
                values["attachment_ids"] = [Command.set(email.attachment_ids.ids)]
            link = email.link_ids[:1]
            if "target" in fields_list and link:
                values["target"] = f"{link.res_model},{link.res_id}"
        return values

    @api.depends("email_id")
    def _compute_available_attachment_ids(self):
        for wizard in self:
            wizard.available_attachment_ids = wizard.email_id.attachment_ids

    def action_save(self):
        """Copy the chosen files onto the record, where its Attachments list shows them."""
        self.ensure_one()
        if not self.target or not self.attachment_ids:
            raise UserError(self.env._("Choose the files and the record to save them to."))
        self.email_id.check_access("read")
        self.target.check_access("write")
        files = self.attachment_ids & self.email_id.attachment_ids
        # sudo: the files belong to the email archive, which users only read; the
        # copies belong to the record, which the user may write (checked above).
        copies = self.env["ir.attachment"].create(
            [
                {
                    "name": attachment.name,
                    "raw": attachment.sudo().raw,
                    "mimetype": attachment.mimetype,
                    "res_model": self.target._name,
                    "res_id": self.target.id,
                    # Deleting or forgetting the email deletes the copies too.
                    "crm_mail_email_id": self.email_id.id,
                }
                for attachment in files
            ]
        )
        return actions.notification(
            self.env._(
                "%(count)s file(s) saved to %(record)s.",
                count=len(copies),
                record=self.target.display_name,
            ),
            then=actions.CLOSE_DIALOG,
        )
