# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class CrmMailExampleSubscription(models.Model):
    _name = "crm.mail.example.subscription"
    _description = "Subscription"
    _inherit = ["mail.thread", "crm.mail.linked.mixin"]
    # Emails are matched against this field, and the archive is linked to a
    # subscription when it gains an address there.
    _crm_mail_address_field = "billing_email"

    name = fields.Char(required=True)
    billing_email = fields.Char(help="The billing contact's address, in lower case.")
    state = fields.Selection([("open", "Open"), ("closed", "Closed")], default="open")

    @api.model
    def _crm_mail_match_addresses(self, addresses):
        """Open subscriptions whose billing address is one of ``addresses``."""
        return self._crm_mail_group_by_address(addresses, [("state", "=", "open")], "billing_email")
