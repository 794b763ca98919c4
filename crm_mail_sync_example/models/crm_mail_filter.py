# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailFilter(models.Model):
    _inherit = "crm.mail.filter"

    action = fields.Selection(
        selection_add=[("private", "Keep private")],
        ondelete={"private": "cascade"},
    )

    def _action_private(self, item):
        """The email stays with its mailbox's owner: private, linked to nothing."""
        item.filter.values.update(is_private=True, no_link=True)
        return True  # the next filters still apply
