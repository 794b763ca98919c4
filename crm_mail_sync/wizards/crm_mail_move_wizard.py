# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailMoveWizard(models.TransientModel):
    _name = "crm.mail.move.wizard"
    _description = "Move Emails to an Inbox Folder"

    email_ids = fields.Many2many("crm.mail.email", required=True)
    folder_id = fields.Many2one(
        "crm.mail.inbox.folder",
        domain=lambda self: ["|", ("user_id", "=", False), ("user_id", "=", self.env.uid)],
        help="One of your folders or a shared one; the inbox's folder tree lists it "
        "under My Folders. Leave empty to take the emails out of their folder.",
    )

    def action_move(self):
        """File the emails in the chosen folder."""
        self.ensure_one()
        self.email_ids.action_move_to_inbox_folder(self.folder_id)
        return {"type": "ir.actions.act_window_close"}
