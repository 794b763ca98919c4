# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    crm_mail_email_count = fields.Integer(
        compute="_compute_crm_mail_email_count", string="Synced Emails"
    )

    def _crm_mail_link_domain(self):
        """Emails linked to these partners; a company's include its contacts'."""
        partners = self | self.filtered("is_company").child_ids
        return [
            ("link_ids", "any", [("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)])
        ]

    def _compute_crm_mail_email_count(self):
        Email = self.env["crm.mail.email"]
        for partner in self:
            partner.crm_mail_email_count = (
                Email.search_count(partner._crm_mail_link_domain()) if partner.id else 0
            )

    def action_view_crm_mail_emails(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_sync.crm_mail_email_action"
        )
        action["domain"] = self._crm_mail_link_domain()
        action["context"] = {}
        return action

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        if not self.env.context.get("crm_mail_sync_no_archive_link"):
            partners.filtered("email_normalized")._crm_mail_link_archive()
        return partners

    def write(self, vals):
        result = super().write(vals)
        if "email" in vals and not self.env.context.get("crm_mail_sync_no_archive_link"):
            self.filtered("email_normalized")._crm_mail_link_archive()
        return result

    def _crm_mail_link_archive(self):
        # sudo: linking reads the whole archive, whoever edits the contact.
        self.env["crm.mail.link.request"].sudo()._link_records(self)
