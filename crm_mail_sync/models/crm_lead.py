# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.mail.linked.mixin"]
    _crm_mail_address_field = "email_from"

    crm_mail_case_ids = fields.One2many(
        "crm.mail.case",
        "lead_id",
        string="Cases",
        readonly=True,
        help="The cases converted to this lead or opportunity.",
    )
    crm_mail_case_count = fields.Integer(
        compute="_compute_crm_mail_case_count", string="Cases Converted"
    )

    @api.model
    def _crm_mail_match_addresses(self, addresses):
        """Open leads and opportunities of these addresses, or of their contacts."""
        open_leads = [("stage_id.is_won", "=", False)]
        result = self._crm_mail_group_by_address(addresses, open_leads)
        contacts = self.env["res.partner"]._crm_mail_match_contacts(addresses)
        every = self.env["res.partner"].union(*contacts.values())
        by_partner = {}
        for lead in self.search([*open_leads, ("partner_id", "in", every.ids)]):
            by_partner[lead.partner_id] = by_partner.get(lead.partner_id, self.browse()) | lead
        for address, found in contacts.items():
            for partner in found:
                if partner in by_partner:
                    result[address] = result.get(address, self.browse()) | by_partner[partner]
        return result

    def _compute_crm_mail_case_count(self):
        Case = self.env["crm.mail.case"]
        if not Case.has_access("read"):
            # A salesperson without an Emails level counts no case (and opens the lead).
            self.crm_mail_case_count = 0
            return
        counts = dict(Case._read_group([("lead_id", "in", self.ids)], ["lead_id"], ["__count"]))
        for lead in self:
            lead.crm_mail_case_count = counts.get(lead, 0)

    def action_view_crm_mail_cases(self):
        """Smart button: the cases converted to this lead."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("crm_mail_sync.crm_mail_case_action")
        action["domain"] = [("lead_id", "=", self.id)]
        action["context"] = {}
        return action
