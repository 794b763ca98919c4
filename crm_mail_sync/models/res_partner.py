# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "crm.mail.linked.mixin"]

    def write(self, vals):
        result = super().write(vals)
        if "email" in vals and self.user_ids:
            # The 'Own' level follows the users' addresses.
            self.env["crm.mail.email"].sudo()._refresh_address_users(self.user_ids)
        return result

    def _crm_mail_linked_records(self):
        # A company's emails include its contacts'.
        return self | self.filtered("is_company").child_ids
