# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..lib import actions
from ..lib.addresses import normalize_address


class CrmMailForgetAddressWizard(models.TransientModel):
    _name = "crm.mail.forget.address.wizard"
    _description = "Forget an Email Address"

    address = fields.Char(
        required=True,
        help="Every synced email from or to this address is deleted, with its chatter "
        "entries and files; later syncs skip its mail. The mail servers are not touched.",
    )
    email_count = fields.Integer(
        string="Emails to Delete",
        compute="_compute_email_count",
        help="Synced emails with this address in From, To or Cc.",
    )

    @api.depends("address")
    def _compute_email_count(self):
        Erasure = self.env["crm.mail.erasure"]
        for wizard in self:
            address = normalize_address(wizard.address or "")
            wizard.email_count = Erasure._count_emails(address) if address else 0

    def action_forget(self):
        """Button: delete the address's emails (after the confirmation shown on it)."""
        self.ensure_one()
        erasure = self.env["crm.mail.erasure"]._forget(self.address)
        if erasure.state == "done":
            message = self.env._(
                "%(count)s emails from or to %(address)s were deleted; later syncs skip its mail.",
                count=erasure.email_count,
                address=normalize_address(self.address),
            )
        else:
            message = self.env._(
                "%(count)s emails deleted so far; the rest is deleted in the background "
                "(Emails > Configuration > Forgotten Addresses shows the progress).",
                count=erasure.email_count,
            )
        return actions.notification(message, then=actions.CLOSE_DIALOG)
