# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailAutoReply(models.Model):
    _name = "crm.mail.auto.reply"
    _description = "Auto-Reply Sent"
    _order = "id desc"

    account_id = fields.Many2one("crm.mail.account", required=True, ondelete="cascade", index=True)
    address = fields.Char(required=True, index=True, help="The normalised recipient address.")
    case_id = fields.Many2one("crm.mail.case", ondelete="set null")
    email_id = fields.Many2one("crm.mail.email", ondelete="set null")
