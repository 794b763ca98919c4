# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import fields, models

from ..lib.addresses import normalize_address


class ResUsers(models.Model):
    _inherit = "res.users"

    crm_mail_address_ids = fields.One2many(
        "crm.mail.user.address",
        "user_id",
        string="Additional Email Addresses",
        groups="crm_mail_sync.group_crm_mail_manager",
        help="Addresses of this user besides the main one. Once an Emails administrator "
        "confirms one, the user's personal mailboxes may use it and mail with it in "
        "From, To or Cc is the user's at the Own level.",
    )

    def _crm_mail_addresses(self):
        """``{user id: set of normalised addresses}``: each user's main address and
        confirmed additional ones, in one query for the whole batch. The one answer to
        "which addresses are this user's" (personal mailboxes, Own access, sending)."""
        result = defaultdict(set)
        for user in self:
            main = normalize_address(user.email or "")
            if main:
                result[user.id].add(main)
        if self.ids:
            # sudo: which addresses are a user's is the system's answer, whoever asks.
            confirmed = (
                self.env["crm.mail.user.address"]
                .sudo()
                .search([("user_id", "in", self.ids), ("confirmed", "=", True)])
            )
            for record in confirmed:
                result[record.user_id.id].add(record.email_normalized)
        return {user.id: result[user.id] for user in self}
