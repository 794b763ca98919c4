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
        if not Email.has_access("read"):
            # A user without an Emails level counts none (and may still open the record).
            self.crm_mail_email_count = 0
            return
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
        if self._crm_mail_address_field not in vals or self.env.context.get(
            "crm_mail_sync_no_archive_link"
        ):
            return super().write(vals)
        # Only a record whose address really changed looks the archive up: saving a
        # form that resends the same address costs nothing.
        before = {record.id: record.email_normalized for record in self}
        result = super().write(vals)
        self.filtered(
            lambda record: (
                record.email_normalized and record.email_normalized != before.get(record.id)
            )
        )._crm_mail_link_archive()
        return result

    def _crm_mail_link_archive(self):
        # sudo: linking reads the whole archive, whoever edits the record.
        self.env["crm.mail.link.request"].sudo()._link_records(self)
