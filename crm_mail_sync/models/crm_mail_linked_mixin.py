# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..lib.addresses import address_forms, normalize_address


class CrmMailLinkedMixin(models.AbstractModel):
    """Records synced emails can be linked to: shown in their chatter, an "Emails"
    smart button, and the archive linked retroactively when a record gains an address.

    A model becomes linkable by inheriting this mixin (``crm.mail.linking`` finds
    every model that does) and says which of its records an email's addresses concern
    in ``_crm_mail_match_addresses``; res.partner, crm.lead and crm.mail.case do.
    """

    _name = "crm.mail.linked.mixin"
    _description = "Record Linked to Synced Emails"

    # The field holding the record's address: its change means the record gained
    # (another) address, and emails are matched against it by default.
    _crm_mail_address_field = "email"

    crm_mail_email_count = fields.Integer(
        compute="_compute_crm_mail_email_count", string="Synced Emails"
    )

    @api.model
    def _crm_mail_match_addresses(self, addresses):
        """Hook: the records of this model that emails with these addresses concern.

        By default the records whose address (``email_normalized``, else the
        ``_crm_mail_address_field``) is one of them; a model with neither matches
        nothing (its emails come by thread or reference).

        :param set addresses: normalised addresses (see ``lib.addresses``)
        :return: dict ``{address: records}``
        """
        field = self._crm_mail_match_field()
        return self._crm_mail_group_by_address(addresses, [], field) if field else {}

    @api.model
    def _crm_mail_match_field(self):
        """The field matched against addresses by default, or None."""
        if "email_normalized" in self._fields:
            return "email_normalized"
        return (
            self._crm_mail_address_field if self._crm_mail_address_field in self._fields else None
        )

    def _crm_mail_address(self):
        """The normalised address of this record ('' for none): the archive is linked
        to it when it gains one."""
        self.ensure_one()
        field = self._crm_mail_match_field()
        return normalize_address(self[field] or "") if field else ""

    @api.model
    def _crm_mail_group_by_address(self, addresses, domain, field="email_normalized"):
        """``{address: records}`` of the records matching ``domain`` whose ``field``
        is one of ``addresses``, in either form of an internationalised domain."""
        form_of = {form: address for address in addresses for form in address_forms(address)}
        records = self.search([*domain, (field, "in", list(form_of))])
        result = {}
        for record in records:
            address = form_of[record[field]]
            result[address] = result.get(address, self.browse()) | record
        return result

    def _crm_mail_linked_records(self):
        """Hook: the records whose emails this record shows (itself by default)."""
        return self

    def _crm_mail_link_domain(self):
        records = self._crm_mail_linked_records()
        return [
            ("link_ids", "any", [("res_model", "=", self._name), ("res_id", "in", records.ids)])
        ]

    def _compute_crm_mail_email_count(self):
        Email = self.env["crm.mail.email"]
        if not Email.has_access("read"):
            # A user without an Emails level counts none (and may still open the record).
            self.crm_mail_email_count = 0
            return
        for record in self:
            record.crm_mail_email_count = (
                Email.search_count(record._crm_mail_link_domain()) if record.id else 0
            )

    def action_view_crm_mail_emails(self):
        """Smart button: the emails linked to this record."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_sync.crm_mail_email_action"
        )
        action["domain"] = self._crm_mail_link_domain()
        action["context"] = {}
        return action

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if self._crm_mail_match_field() and not self.env.context.get(
            "crm_mail_sync_no_archive_link"
        ):
            records.filtered(lambda record: record._crm_mail_address())._crm_mail_link_archive()
        return records

    def write(self, vals):
        if self._crm_mail_address_field not in vals or self.env.context.get(
            "crm_mail_sync_no_archive_link"
        ):
            return super().write(vals)
        # Only a record whose address really changed looks the archive up: saving a
        # form that resends the same address costs nothing.
        before = {record.id: record._crm_mail_address() for record in self}
        result = super().write(vals)
        self.filtered(
            lambda record: (
                record._crm_mail_address() and record._crm_mail_address() != before.get(record.id)
            )
        )._crm_mail_link_archive()
        return result

    def _crm_mail_link_archive(self):
        # sudo: linking reads the whole archive, whoever edits the record.
        self.env["crm.mail.link.request"].sudo()._link_records(self)
