# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailCaseStage(models.Model):
    _name = "crm.mail.case.stage"
    _description = "Case Stage"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    fold = fields.Boolean(help="Folded in the kanban view.")
    is_closed = fields.Boolean(
        string="Closed Stage",
        help="Cases in this stage are done: they do not count as open work, and a "
        "customer's reply reopens them.",
    )
