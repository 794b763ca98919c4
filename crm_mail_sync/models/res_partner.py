# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models
from odoo.exceptions import ValidationError


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
            changed._crm_mail_check_users_addresses()
            # The 'Own' level follows the users' addresses.
            self.env["crm.mail.email"].sudo()._refresh_address_users(changed.user_ids)
        return result

    def _crm_mail_check_users_addresses(self):
        """A user's main address must not be another user's additional address: an
        address belongs to one user only."""
        users = self.user_ids.filtered(lambda user: not user.share)
        addresses = {partner.email_normalized for partner in self if partner.email_normalized}
        taken = self.env["crm.mail.user.address"]._confirmed_users_by_address(addresses)
        # Proposals count too: sudo, every user's, whoever writes the address.
        pending = (
            self.env["crm.mail.user.address"]
            .sudo()
            .search([("email_normalized", "in", list(addresses)), ("confirmed", "=", False)])
        )
        for record in pending:
            taken[record.email_normalized] = (
                taken.get(record.email_normalized, self.env["res.users"]) | record.user_id
            )
        for partner in self:
            others = taken.get(partner.email_normalized, self.env["res.users"]) - partner.user_ids
            if others and partner.user_ids & users:
                raise ValidationError(
                    self.env._(
                        "%(address)s already belongs to %(user)s: an address belongs to one "
                        "user only.",
                        address=partner.email_normalized,
                        user=others[:1].name,
                    )
                )

    @api.model
    def _crm_mail_match_addresses(self, addresses):
        """Contacts of these addresses, and their company."""
        return {
            address: contacts | (contacts.commercial_partner_id - contacts)
            for address, contacts in self._crm_mail_match_contacts(addresses).items()
        }

    @api.model
    def _crm_mail_match_contacts(self, addresses):
        """``{address: contacts}`` of these addresses.

        Internal users' partners are left out, and so are the contacts of users'
        confirmed additional addresses: colleagues' addresses say nothing about which
        customer an email concerns.
        """
        colleagues = self.env["crm.mail.user.address"]._confirmed_users_by_address(addresses)
        matched = super()._crm_mail_match_addresses(set(addresses) - set(colleagues))
        partners = self.browse().union(*matched.values())
        internal = (
            self.env["res.users"]
            .search([("partner_id", "in", partners.ids), ("share", "=", False)])
            .partner_id
        )
        return {address: found - internal for address, found in matched.items() if found - internal}

    def _crm_mail_linked_records(self):
        # A company's emails include its contacts'.
        return self | self.filtered("is_company").child_ids
