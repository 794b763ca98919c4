# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CrmMailInboxFolder(models.Model):
    _name = "crm.mail.inbox.folder"
    _description = "CRM Inbox Folder"
    _order = "name, id"

    name = fields.Char(required=True, translate=True)
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        default=lambda self: self.env.user,
        help="Leave empty for a folder shared by everyone.",
    )
    email_ids = fields.One2many("crm.mail.email", "inbox_folder_id", string="Emails")
