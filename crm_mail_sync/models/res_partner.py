# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "crm.mail.linked.mixin"]

    def write(self, vals):
        if "email" not in vals:
            return super().write(vals)
        before = {partner.id: partner.email_normalized for partner in self}
        result = super().write(vals)
        changed = self.filtered(lambda partner: partner.email_normalized != before[partner.id])
        if changed.user_ids:
            # The 'Own' level follows the users' addresses.
            self.env["crm.mail.email"].sudo()._refresh_address_users(changed.user_ids)
        return result

    def _crm_mail_linked_records(self):
        # A company's emails include its contacts'.
        return self | self.filtered("is_company").child_ids
