# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import Command, api, fields, models


class CrmMailEmailLink(models.Model):
    _name = "crm.mail.email.link"
    _description = "Link of an Email to a Record"
    _order = "email_id, id"

    email_id = fields.Many2one(
        "crm.mail.email", required=True, ondelete="cascade", index=True, readonly=True
    )
    res_model = fields.Char(string="Model", required=True, index=True, readonly=True)
    res_id = fields.Many2oneReference(
        string="Record ID", model_field="res_model", required=True, index=True, readonly=True
    )
    reason = fields.Selection(
        [
            ("thread", "Same conversation"),
            ("reference", "Reference in the subject"),
            ("address", "Address"),
            ("manual", "Linked by hand"),
            ("composed", "Written from this record"),
        ],
        required=True,
        readonly=True,
        help="Why the email was linked to this record.",
    )
    mail_message_id = fields.Many2one(
        "mail.message",
        string="Chatter Entry",
        ondelete="set null",
        readonly=True,
        help="The copy of the email shown in the record's chatter.",
    )
    record_name = fields.Char(compute="_compute_record_name", string="Record")
    model_name = fields.Char(compute="_compute_record_name", string="Type")

    _sql_constraints = [
        (
            "email_record_unique",
            "UNIQUE(email_id, res_model, res_id)",
            "This email is already linked to this record.",
        ),
    ]

    @api.depends("res_model", "res_id")
    def _compute_record_name(self):
        names = {}
        for model in set(self.mapped("res_model")):
            if model not in self.env:
                continue
            links = self.filtered(lambda link, model=model: link.res_model == model)
            # sudo: the name of a linked record is shown on the email even to users
            # who may not open the record itself (opening it still checks access).
            records = self.env[model].sudo().browse(links.mapped("res_id")).exists()
            names[model] = dict(zip(records.ids, records.mapped("display_name"), strict=True))
        descriptions = {
            model: self.env["ir.model"]._get(model).name for model in names if model in self.env
        }
        for link in self:
            link.record_name = names.get(link.res_model, {}).get(link.res_id) or self.env._(
                "(deleted record)"
            )
            link.model_name = descriptions.get(link.res_model, link.res_model)

    def unlink(self):
        """Unlinking also removes the email's entry from the record's chatter."""
        # sudo: the chatter copy was written by the sync, not by this user.
        messages = self.sudo().mail_message_id
        result = super().unlink()
        messages.unlink()
        return result

    def _notify_followers(self):
        """Notify the internal followers of each linked record of a live email.

        Followers learn of the email even when they are not among its recipients;
        users who received it in a mailbox of their own are not told twice, and
        archive-mode mail notifies nobody.
        """
        links = self.filtered(
            lambda link: (
                link.mail_message_id
                and link.email_id.import_mode == "live"
                and not link.email_id.no_notify
            )
        )
        if not links:
            return
        # sudo: followers and users of the linked records are read to pick recipients.
        followers = (
            self.env["mail.followers"]
            .sudo()
            .search(
                [
                    ("res_model", "in", list(set(links.mapped("res_model")))),
                    ("res_id", "in", list(set(links.mapped("res_id")))),
                    ("partner_id.user_ids.share", "=", False),
                ]
            )
        )
        by_record = defaultdict(set)
        for follower in followers:
            by_record[(follower.res_model, follower.res_id)].add(follower.partner_id.id)
        for link in links:
            email = link.email_id
            owners = email.account_ids.filtered(
                lambda account: account.account_type == "personal"
            ).user_id.partner_id
            recipients = by_record.get((link.res_model, link.res_id), set())
            recipients -= set(owners.ids) | {link.mail_message_id.author_id.id}
            if not recipients:
                continue
            message = link.mail_message_id.sudo()
            message.partner_ids = [Command.set(sorted(recipients))]
            record = self.env[link.res_model].sudo().browse(link.res_id)
            record._notify_thread(message)

    def action_open_record(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
            "target": "current",
        }

    def action_unlink(self):
        """Button: remove this link (and its chatter entry)."""
        self.unlink()
        return True
