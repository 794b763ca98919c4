# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..lib import actions
from ..models.crm_mail_linking import linkable_models_selection


class CrmMailLinkWizard(models.TransientModel):
    _name = "crm.mail.link.wizard"
    _description = "Link Emails to a Record"

    email_ids = fields.Many2many("crm.mail.email", string="Emails", required=True)
    target = fields.Reference(
        selection=linkable_models_selection,
        string="Link To",
        required=True,
        help="The contact, company or lead the emails concern.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "email_ids" in fields_list and not values.get("email_ids"):
            active_ids = self.env.context.get("active_ids") or []
            if self.env.context.get("active_model") == "crm.mail.email" and active_ids:
                values["email_ids"] = [fields.Command.set(active_ids)]
        return values

    def action_link(self):
        """Link the emails to the chosen record; they appear in its chatter."""
        self.ensure_one()
        if not self.target:
            raise UserError(self.env._("Choose the record to link the emails to."))
        # The user must be allowed to see both the emails and the record.
        self.email_ids.check_access("read")
        self.target.check_access("read")
        target = {(self.target._name, self.target.id): "manual"}
        self.env["crm.mail.linking"]._create_links(
            self.email_ids, {email.id: target for email in self.email_ids}, notify=False
        )
        return actions.CLOSE_DIALOG
