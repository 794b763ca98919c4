# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    crm_mail_email_id = fields.Many2one(
        "crm.mail.email",
        string="Copied From Email",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
        help="A file saved onto a record from this synced email: it goes when the "
        "email is deleted or its address forgotten.",
    )
