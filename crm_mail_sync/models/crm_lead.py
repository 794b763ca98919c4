# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.mail.linked.mixin"]
    _crm_mail_address_field = "email_from"

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
