# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64

from odoo import fields, models
from odoo.exceptions import UserError

from ..lib import actions
from ..lib.batch import BatchItem
from .crm_mail_folder import BigInteger


class CrmMailQuarantine(models.Model):
    _name = "crm.mail.quarantine"
    _description = "Quarantined Message"
    _order = "create_date desc, id desc"
    _rec_name = "error"

    account_id = fields.Many2one("crm.mail.account", required=True, ondelete="cascade", index=True)
    folder_id = fields.Many2one("crm.mail.folder", ondelete="set null", index=True)
    uid = BigInteger(string="UID", readonly=True)
    pop_uidl = fields.Char(string="POP3 UIDL", readonly=True)
    error = fields.Text(required=True, readonly=True)
    raw_message = fields.Binary(
        attachment=True,
        readonly=True,
        help="The message exactly as the server sent it.",
    )
    raw_size = fields.Integer(string="Size (bytes)", readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("imported", "Imported")],
        default="pending",
        required=True,
        readonly=True,
    )
    email_id = fields.Many2one("crm.mail.email", readonly=True, ondelete="set null")
    retry_count = fields.Integer(readonly=True)

    def action_retry(self):
        """Try to import the quarantined messages again (e.g. after an upgrade)."""
        Gateway = self.env["crm.mail.gateway"]
        pending = self.filtered(lambda q: q.state == "pending")
        if pending.filtered(lambda q: not q.folder_id):
            raise UserError(self.env._("The folder of this message no longer exists."))
        # One batch per folder: the chain stores one by one by itself when one fails.
        for folder, entries in pending.grouped("folder_id").items():
            items = [
                BatchItem(
                    raw=base64.b64decode(entry.raw_message or b""),
                    uid=entry.uid or None,
                    pop_uidl=entry.pop_uidl or None,
                    quarantine=entry,
                )
                for entry in entries
            ]
            Gateway._import_batch(folder, items)
        still_failing = pending.filtered(lambda q: q.state == "pending")
        for entry in still_failing:
            entry.retry_count += 1
        if still_failing:
            message = self.env._(
                "%(count)s message(s) still cannot be imported: %(errors)s",
                count=len(still_failing),
                errors="; ".join(still_failing.mapped("error")),
            )
        else:
            message = self.env._("The messages were imported.")
        return actions.notification(
            message, kind="warning" if still_failing else "success", then=actions.SOFT_RELOAD
        )
