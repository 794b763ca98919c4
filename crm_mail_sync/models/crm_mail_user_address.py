# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A user's additional email addresses (sales.jane@, an alias of the user's own), which
the Emails administrators confirm.

A confirmed address counts as the user's own wherever the user's main address does: a
personal mailbox may use it, mail with it in From, To or Cc is the user's at the Own
level, and linking does not take it for a customer's. Users may propose addresses of
their own; a proposal does nothing until an administrator confirms it.
"""

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..lib.addresses import address_forms, normalize_address


class CrmMailUserAddress(models.Model):
    _name = "crm.mail.user.address"
    _description = "User's Additional Email Address"
    _order = "user_id, email_normalized, id"
    _rec_name = "email"

    user_id = fields.Many2one(
        "res.users",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
        domain=[("share", "=", False)],
        help="The user this address belongs to. An address belongs to one user at most.",
    )
    email = fields.Char(
        string="Email Address",
        required=True,
        help="An address of the user besides the main one, e.g. an alias or a second mailbox.",
    )
    email_normalized = fields.Char(
        string="Normalised Address",
        compute="_compute_email_normalized",
        store=True,
        index=True,
        help="The address as compared with mail (lowercase).",
    )
    confirmed = fields.Boolean(
        readonly=True,
        copy=False,
        help="Confirmed by an Emails administrator. Only a confirmed address counts as "
        "the user's: for personal mailboxes, the Own access level and sending.",
    )
    confirmed_by_id = fields.Many2one("res.users", readonly=True, copy=False, ondelete="set null")
    confirmed_date = fields.Datetime(string="Confirmed On", readonly=True, copy=False)
    note = fields.Char(help="Why the user has this address, e.g. 'alias of the sales desk'.")

    @api.depends("email")
    def _compute_email_normalized(self):
        for record in self:
            record.email_normalized = normalize_address(record.email) or False

    # ------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------

    def _is_manager(self):
        return self.env.su or self.env.user.has_group("crm_mail_sync.group_crm_mail_manager")

    @api.constrains("email", "user_id")
    def _check_address(self):
        """An address is valid, and nobody else's: not another user's main address,
        not an additional address already entered (for this user or another)."""
        forms = {form for record in self for form in address_forms(record.email_normalized or "")}
        # sudo: an address must be free among every user's, whoever proposes it and
        # whichever users they may read.
        mains = (
            self.env["res.users"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id.email_normalized", "in", list(forms)), ("share", "=", False)])
        )
        main_of = {user.partner_id.email_normalized: user for user in mains}
        entered = self.sudo().search(
            [("email_normalized", "in", list(forms)), ("id", "not in", self.ids)]
        )
        entered_of = {record.email_normalized: record.user_id for record in entered}
        seen = {}
        for record in self:
            if not record.email_normalized:
                raise ValidationError(
                    self.env._("%s is not a valid email address.", record.email or "")
                )
            for form in address_forms(record.email_normalized):
                holder = main_of.get(form)
                if holder == record.user_id:
                    raise ValidationError(
                        self.env._(
                            "%(address)s is already the main address of %(user)s.",
                            address=record.email_normalized,
                            user=record.user_id.name,
                        )
                    )
                holder = holder or entered_of.get(form) or seen.get(form)
                if holder:
                    raise ValidationError(
                        self.env._(
                            "%(address)s already belongs to %(user)s: an address belongs "
                            "to one user only.",
                            address=record.email_normalized,
                            user=holder.name,
                        )
                    )
                seen[form] = record.user_id

    def _check_not_used(self):
        """Refuse to take away an address that a personal mailbox of its user uses."""
        # sudo: the mailboxes of every user count, archived ones too.
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("account_type", "=", "personal"),
                    ("user_id", "in", self.user_id.ids),
                ]
            )
        )
        for record in self.filtered("confirmed"):
            forms = set(address_forms(record.email_normalized or ""))
            using = accounts.filtered(
                lambda account, record=record, forms=forms: (
                    account.user_id == record.user_id and normalize_address(account.email) in forms
                )
            )
            if using:
                raise ValidationError(
                    self.env._(
                        "%(address)s is the address of the personal mailbox %(mailboxes)s "
                        "of %(user)s: change the mailbox's address or delete the mailbox "
                        "first.",
                        address=record.email_normalized,
                        mailboxes=", ".join(using.mapped("display_name")),
                        user=record.user_id.name,
                    )
                )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not self._is_manager():
            for vals in vals_list:
                # A user proposes addresses of their own; an administrator confirms them.
                if vals.get("user_id", self.env.uid) != self.env.uid:
                    raise AccessError(self.env._("You may propose addresses for yourself only."))
                for name in ("confirmed", "confirmed_by_id", "confirmed_date"):
                    vals.pop(name, None)
        records = super().create(vals_list)
        self._refresh_users(records.filtered("confirmed").user_id)
        return records

    def write(self, vals):
        if not self._is_manager():
            raise AccessError(
                self.env._("Only an Emails administrator can change a user's addresses.")
            )
        if {"email", "user_id"} & set(vals) or vals.get("confirmed") is False:
            self._check_not_used()
        before = self.filtered("confirmed").user_id
        result = super().write(vals)
        if {"email", "user_id", "confirmed"} & set(vals):
            self._refresh_users(before | self.filtered("confirmed").user_id)
        return result

    def unlink(self):
        if not self._is_manager() and self.filtered("confirmed"):
            raise AccessError(
                self.env._("Only an Emails administrator can remove a confirmed address.")
            )
        self._check_not_used()
        users = self.filtered("confirmed").user_id
        result = super().unlink()
        self._refresh_users(users)
        return result

    def _refresh_users(self, users):
        """The Own level follows the users' addresses: re-match ``users`` at once."""
        if users:
            # sudo: the archive's address matches are the system's, for every user.
            self.env["crm.mail.email"].sudo()._refresh_address_users(users)

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def action_confirm(self):
        """Button: the address is the user's (an administrator checked it)."""
        if not self._is_manager():
            raise AccessError(self.env._("Only an Emails administrator can confirm an address."))
        self.filtered(lambda record: not record.confirmed).write(
            {
                "confirmed": True,
                "confirmed_by_id": self.env.uid,
                "confirmed_date": fields.Datetime.now(),
            }
        )
        return True

    def action_unconfirm(self):
        """Button: the address no longer counts as the user's."""
        self.filtered("confirmed").write(
            {"confirmed": False, "confirmed_by_id": False, "confirmed_date": False}
        )
        return True

    # ------------------------------------------------------------------
    # Lookups
    # ------------------------------------------------------------------

    @api.model
    def _confirmed_users_by_address(self, addresses):
        """``{form: users}`` of the confirmed additional addresses among ``addresses``
        (normalised, in any of their forms), one query."""
        form_of = {form: address for address in addresses for form in address_forms(address)}
        if not form_of:
            return {}
        # sudo: matching mail to users is the system's, whoever runs it.
        records = self.sudo().search(
            [("confirmed", "=", True), ("email_normalized", "in", list(form_of))]
        )
        result = {}
        for record in records:
            key = form_of[record.email_normalized]
            result[key] = result.get(key, self.env["res.users"]) | record.user_id
        return result
