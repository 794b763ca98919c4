# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Templates in the composer, wherever it is opened from.

Sending from a mail account, the composer offers the mail templates that fit the
email: the **contact templates** ("Applies to: Contact", ``res.partner``), rendered for
the recipient's contact, which makes them the generic ones, usable in a "New Email"
written from nowhere; and the templates of the records the email is about, each
rendered for its record: the record it is written from, and for a reply or a forward
from the inbox the email answered (``crm.mail.email`` templates) and the contacts,
leads and case that email is linked to. Only templates the user can read are offered.

A template fills the subject, the text and the files. A reply or a forward keeps its
subject ("Re: ...") and the quoted original, below the template's text.
"""

from email.utils import getaddresses

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize, is_html_empty

# The model of the generic templates: rendered for the recipient's contact.
GENERIC_TEMPLATE_MODEL = "res.partner"


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    crm_mail_template_id = fields.Many2one(
        "mail.template",
        string="Template",
        domain="[('id', 'in', crm_mail_template_ids)]",
        help="Fill the subject, the text and the files from a template: a contact "
        "template is written for the recipient's contact, the template of a lead, case "
        "or email for the one this email is about. A reply keeps its subject and the "
        "quoted original.",
    )
    crm_mail_template_ids = fields.Many2many(
        "mail.template", compute="_compute_crm_mail_template_ids"
    )

    @api.depends("model", "res_ids", "crm_mail_parent_email_id")
    def _compute_crm_mail_template_ids(self):
        for wizard in self:
            wizard.crm_mail_template_ids = wizard._crm_mail_offered_templates()

    @api.onchange("crm_mail_template_id")
    def _onchange_crm_mail_template_id(self):
        if self.crm_mail_template_id:
            self._crm_mail_apply_template()

    # ------------------------------------------------------------------
    # Which templates, rendered for which record
    # ------------------------------------------------------------------

    def _crm_mail_template_records(self):
        """Hook: the records templates are rendered for, the first of each model wins:
        the record the email is written from, then, for an answer, the case and the
        records the email answered is linked to (those the user can read)."""
        self.ensure_one()
        records = []
        res_ids = self._evaluate_res_ids() if self.model in self.env else []
        if len(res_ids) == 1:
            records.append(self.env[self.model].browse(res_ids))
        parent = self.crm_mail_parent_email_id
        if parent:
            records.append(parent.case_id)
            # sudo: the links of an email its reader may see (the composer was opened
            # on it); the records themselves are filtered by the user's access below.
            for link in parent.sudo().link_ids:
                if link.res_model in self.env:
                    records.append(self.env[link.res_model].browse(link.res_id))
        result = {}
        for record in records:
            record = record.exists()
            if record and record._name not in result and record.has_access("read"):
                result[record._name] = record
        return result

    def _crm_mail_recipient_partner(self):
        """The contact a generic template is written for: the first contact among the
        recipients, else the contact of the first address typed in To or Cc."""
        self.ensure_one()
        if self.partner_ids:
            return self.partner_ids[:1]
        Partner = self.env["res.partner"]
        addresses = [
            normalized
            for _name, address in getaddresses(
                [self.crm_mail_email_to or "", self.crm_mail_email_cc or ""]
            )
            if (normalized := email_normalize(address))
        ]
        if not addresses:
            return Partner
        # One search for all the addresses; per address, the first contact found.
        by_address = {}
        for partner in Partner.search([("email_normalized", "in", addresses)]):
            by_address.setdefault(partner.email_normalized, partner)
        return next((by_address[a] for a in addresses if a in by_address), Partner)

    def _crm_mail_offered_templates(self, records=None):
        """The templates this email may be filled from (those the user can read).

        :param dict records: ``_crm_mail_template_records()``, when already known
        """
        self.ensure_one()
        if not self.env["mail.template"].has_access("read"):
            return self.env["mail.template"]
        if records is None:
            records = self._crm_mail_template_records()
        template_models = {GENERIC_TEMPLATE_MODEL, *records}
        return self.env["mail.template"].search(
            [
                ("model", "in", sorted(template_models)),
                "|",
                ("user_id", "=", False),
                ("user_id", "=", self.env.uid),
            ],
            order="name, id",
        )

    def _crm_mail_template_record(self, model, records=None):
        """The record a template of ``model`` is rendered for (may be empty).

        :param dict records: ``_crm_mail_template_records()``, when already known
        """
        self.ensure_one()
        if records is None:
            records = self._crm_mail_template_records()
        record = records.get(model)
        if model == GENERIC_TEMPLATE_MODEL:
            record = self._crm_mail_recipient_partner() or record
        return record or self.env[model]

    # ------------------------------------------------------------------
    # Filling the email
    # ------------------------------------------------------------------

    def _crm_mail_apply_template(self):
        """Fill subject, text and files from ``crm_mail_template_id``. An answer keeps
        its subject and gets the quoted original back below the template's text."""
        self.ensure_one()
        template = self.crm_mail_template_id
        records = self._crm_mail_template_records()
        if template not in self._crm_mail_offered_templates(records):
            raise UserError(
                self.env._("The template %s does not fit this email.", template.display_name)
            )
        record = self._crm_mail_template_record(template.model, records)
        res_id = record.id or 0
        render_fields = ["subject", "body_html", "attachment_ids"]
        if record:
            render_fields.append("report_template_ids")  # reports need a record
        values = template._generate_template([res_id], render_fields)[res_id]
        body = values.get("body_html")
        body = Markup(body) if body and not is_html_empty(body) else Markup()
        parent = self.crm_mail_parent_email_id
        if parent and self.crm_mail_reply_mode:
            body += parent._quoted_body(self.crm_mail_reply_mode)
        elif values.get("subject"):
            self.subject = values["subject"]
        self.body = body
        self._crm_mail_template_attachments(values)

    def _crm_mail_template_attachments(self, values):
        """Replace the files of a template chosen before with this template's."""
        files = self.env["ir.attachment"].browse(values.get("attachment_ids") or [])
        reports = values.get("attachments") or []
        if reports:
            files |= self.env["ir.attachment"].create(
                [
                    {
                        "name": name,
                        "datas": datas,
                        "res_model": "mail.compose.message",
                        "res_id": 0,
                        "type": "binary",
                    }
                    for name, datas in reports
                ]
            )
        kept = self.attachment_ids.filtered(lambda a: a.res_model != "mail.template")
        self.attachment_ids = [Command.set((kept | files).ids)]
