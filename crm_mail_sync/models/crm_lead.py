# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    crm_mail_email_count = fields.Integer(
        compute="_compute_crm_mail_email_count", string="Synced Emails"
    )

    def _crm_mail_link_domain(self):
        return [("link_ids", "any", [("res_model", "=", "crm.lead"), ("res_id", "in", self.ids)])]

    def _compute_crm_mail_email_count(self):
        Email = self.env["crm.mail.email"]
        for lead in self:
            lead.crm_mail_email_count = (
                Email.search_count(lead._crm_mail_link_domain()) if lead.id else 0
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
        leads = super().create(vals_list)
        if not self.env.context.get("crm_mail_sync_no_archive_link"):
            leads.filtered("email_normalized")._crm_mail_link_archive()
        return leads

    def write(self, vals):
        result = super().write(vals)
        if "email_from" in vals and not self.env.context.get("crm_mail_sync_no_archive_link"):
            self.filtered("email_normalized")._crm_mail_link_archive()
        return result

    def _crm_mail_link_archive(self):
        # sudo: linking reads the whole archive, whoever edits the lead.
        self.env["crm.mail.link.request"].sudo()._link_records(self)
