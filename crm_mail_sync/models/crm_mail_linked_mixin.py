# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class CrmMailLinkedMixin(models.AbstractModel):
    """Records synced emails can be linked to: an "Emails" smart button, and the
    archive linked retroactively when the record gains an email address."""

    _name = "crm.mail.linked.mixin"
    _description = "Record Linked to Synced Emails"

    # The field whose change means the record gained (another) address.
    _crm_mail_address_field = "email"

    crm_mail_email_count = fields.Integer(
        compute="_compute_crm_mail_email_count", string="Synced Emails"
    )

    def _crm_mail_linked_records(self):
        """Hook: the records whose emails this record shows (itself by default)."""
        return self

    def _crm_mail_link_domain(self):
        records = self._crm_mail_linked_records()
        return [
            ("link_ids", "any", [("res_model", "=", self._name), ("res_id", "in", records.ids)])
        ]

    def _compute_crm_mail_email_count(self):
        Email = self.env["crm.mail.email"]
        for record in self:
            record.crm_mail_email_count = (
                Email.search_count(record._crm_mail_link_domain()) if record.id else 0
            )

    def action_view_crm_mail_emails(self):
        """Smart button: the emails linked to this record."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_sync.crm_mail_email_action"
        )
        action["domain"] = self._crm_mail_link_domain()
        action["context"] = {}
        return action

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.context.get("crm_mail_sync_no_archive_link"):
            records.filtered("email_normalized")._crm_mail_link_archive()
        return records

    def write(self, vals):
        result = super().write(vals)
        if self._crm_mail_address_field in vals and not self.env.context.get(
            "crm_mail_sync_no_archive_link"
        ):
            self.filtered("email_normalized")._crm_mail_link_archive()
        return result

    def _crm_mail_link_archive(self):
        # sudo: linking reads the whole archive, whoever edits the record.
        self.env["crm.mail.link.request"].sudo()._link_records(self)
