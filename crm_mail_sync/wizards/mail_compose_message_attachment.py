# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Files of any record in the composer.

Besides files from disk and those of the record an email is written from, the user
attaches files of any other record they can read: searched by file name among all of
them, or listed for one record picked in "Files Of". The list only offers what the
user may read (``ir.attachment`` searches filter by the record each file belongs to);
what is sent is checked again on the server (``_crm_mail_check_attachments``), as ids
can come in through RPC.
"""

from odoo import Command, api, fields, models

from ..models.crm_mail_linking import linkable_models_selection

# Files that belong to no record of their own: the composer's uploads, drafts, templates.
NOT_RECORD_FILES = ("mail.compose.message", "crm.mail.draft", "mail.template")


def _attach_from_selection(model):
    """The models whose records "Files Of" can pick: the linkable ones and emails."""
    return [*linkable_models_selection(model), ("crm.mail.email", model.env._("Email"))]


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    crm_mail_attach_from = fields.Reference(
        selection=_attach_from_selection,
        string="Files Of",
        help="Pick a record to list its files under 'Files From Other Records'; leave "
        "it empty to search the files of every record you can read by name.",
    )
    crm_mail_attach_model = fields.Char(compute="_compute_crm_mail_attach_target")
    crm_mail_attach_res_id = fields.Integer(compute="_compute_crm_mail_attach_target")
    crm_mail_other_attachment_ids = fields.Many2many(
        "ir.attachment",
        "crm_mail_compose_other_attachment_rel",
        "wizard_id",
        "attachment_id",
        string="Files From Other Records",
        domain=(
            f"[('res_model', 'not in', {list(NOT_RECORD_FILES)!r}), ('res_id', '>', 0)]"
            " + (crm_mail_attach_model and [('res_model', '=', crm_mail_attach_model),"
            " ('res_id', '=', crm_mail_attach_res_id)] or [])"
        ),
        help="Files of other records you can read (contacts, leads, cases, emails...), "
        "sent along: search them by name, or pick a record in 'Files Of'.",
    )

    @api.depends("crm_mail_attach_from")
    def _compute_crm_mail_attach_target(self):
        for wizard in self:
            record = wizard.crm_mail_attach_from
            wizard.crm_mail_attach_model = record._name if record else False
            wizard.crm_mail_attach_res_id = record.id if record else 0

    def _crm_mail_all_attachments(self):
        return super()._crm_mail_all_attachments() | self.crm_mail_other_attachment_ids

    def _crm_mail_save_draft(self, error=False):
        draft = super()._crm_mail_save_draft(error=error)
        if self.crm_mail_other_attachment_ids:
            # A draft keeps them with the record's files: reopened, they are sent alike.
            draft.record_attachment_ids = [
                Command.link(attachment.id) for attachment in self.crm_mail_other_attachment_ids
            ]
        return draft
