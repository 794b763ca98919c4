# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import Command, api, fields, models
from odoo.osv import expression

from .mail_message import refuse_also


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
            ("converted", "Converted to this record"),
            ("created", "Opened this record"),
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

    # ------------------------------------------------------------------
    # Access: a link is visible to who may read its email
    # ------------------------------------------------------------------

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        # The email's own rules decide, through a subquery evaluated as the caller:
        # links copy no rule of their own that could drift from the email's.
        if not self.env.su:
            domain = expression.AND([domain, [("email_id", "any", [])]])
        return super()._search(domain, offset=offset, limit=limit, order=order)

    def _check_access(self, operation):
        result = super()._check_access(operation)
        if self.env.su or not self:
            return result
        links = self - result[0] if result else self
        # sudo: only which email a link is of; the verdict is the email's, for the user.
        emails = links.sudo().email_id
        readable = emails.with_env(self.env)._filtered_access("read")
        forbidden = links.filtered(lambda link: link.sudo().email_id not in readable)
        return refuse_also(result, forbidden, operation)

    def unlink(self):
        """Unlinking also removes the email's entry from the record's chatter."""
        # sudo: the chatter entry was written by the sync, not by this user. Only the
        # entry this email made: an Odoo message it was matched to stays.
        messages = self.sudo().mail_message_id.filtered(
            lambda message: message.crm_mail_email_id in self.sudo().email_id
        )
        result = super().unlink()
        messages.unlink()
        return result

    # ------------------------------------------------------------------
    # Notifications
    # ------------------------------------------------------------------

    def _notify_rank(self):
        """Hook: which entry of an email its notification points at (lowest first):
        the case, then the lead, then the person, then the company."""
        self.ensure_one()
        order = {"crm.mail.case": 0, "crm.lead": 1, "res.partner": 2}
        is_company = (
            self.res_model == "res.partner"
            and self.env["res.partner"].sudo().browse(self.res_id).is_company
        )
        return (order.get(self.res_model, 3), is_company, self.id)

    def _notify_followers(self):
        """Tell the internal followers of the linked records about a live email, once.

        Followers learn of the email even when they are not among its recipients. A
        follower of several records the email is linked to (a contact, its company and
        a lead) hears of it once, on one entry (``_notify_rank``). Followers who may not
        read the email hear nothing, since the notification carries its content; the
        users who received it in a mailbox of their own, and its author, are not told
        again; archive-mode mail and filtered mail notify nobody.
        """
        links = self.filtered(
            lambda link: (
                link.mail_message_id.crm_mail_email_id == link.email_id
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
            by_record[(follower.res_model, follower.res_id)].add(follower.partner_id)
        links_of = defaultdict(lambda: self.browse())
        for link in links:
            links_of[link.email_id] |= link
        candidates = {}
        # One lookup of the authors for all the emails, not one per email.
        emails = self.env["crm.mail.email"].union(*links_of)
        authors = self.env["mail.message"]._crm_mail_authors(emails)
        for email, email_links in links_of.items():
            partners = set().union(
                *(by_record.get((link.res_model, link.res_id), set()) for link in email_links)
            )
            owners = email.account_ids._owners().partner_id
            author = authors.get(email.id)
            partners -= set(owners) | set(author or ())
            if partners:
                candidates[email] = partners
        readers = self._readers(candidates)
        for email, partners in candidates.items():
            recipients = {partner for partner in partners if (partner, email) in readers}
            if recipients:
                anchor = min(links_of[email], key=lambda link: link._notify_rank())
                anchor._notify(sorted(partner.id for partner in recipients))

    @api.model
    def _readers(self, candidates):
        """The ``(partner, email)`` pairs of ``candidates`` whose partner has an internal
        user allowed to read the email, with one search per user.

        :param dict candidates: email -> set of res.partner
        """
        emails_of_user = defaultdict(set)
        for email, partners in candidates.items():
            for partner in partners:
                for user in partner.user_ids.filtered(lambda user: not user.share):
                    emails_of_user[user].add(email.id)
        readers = set()
        Email = self.env["crm.mail.email"]
        for user, email_ids in emails_of_user.items():
            # In any of the user's companies: the sync's own company selection (a
            # "Fetch now" from the web client) is not the follower's.
            readable = (
                Email.browse(email_ids)
                .with_user(user)
                .with_context(allowed_company_ids=user.company_ids.ids)
                ._filtered_access("read")
            )
            readers.update((user.partner_id, email) for email in readable)
        return readers

    def _notify(self, partner_ids):
        """Notify ``partner_ids`` of this link's email, on its chatter entry."""
        self.ensure_one()
        message = self.mail_message_id.sudo()
        email = self.email_id.sudo()
        record = self.env[self.res_model].sudo().browse(self.res_id)
        message.partner_ids = [Command.set(partner_ids)]
        with message._crm_mail_content_cached(email):
            recipients_data = [
                data
                for data in record._notify_get_recipients(message, {})
                if data["id"] in partner_ids
            ]
            record._notify_thread_by_inbox(message, recipients_data)
            self._notify_by_email(record, message, recipients_data)

    def _notify_by_email(self, record, message, recipients_data):
        """Mail this link's email to the followers of ``record`` who get notifications
        by email.

        Odoo's layout is rendered for the entry ``message`` (its content cached, see
        ``mail.message._crm_mail_content_cached``); each notification is a mail of its
        own, deleted once sent, so that nothing of the email is ever written onto the
        entry.
        """
        self.ensure_one()
        email = self.email_id.sudo()
        partners_data = [data for data in recipients_data if data["notif"] == "email"]
        if not partners_data:
            return self.env["mail.mail"]
        mail_values, notifications = [], []
        for _lang, render_values, group in record._notify_get_classified_recipients_iterator(
            message, partners_data
        ):
            recipients = group.pop("recipients")
            if not recipients:
                continue
            body = record._notify_by_email_render_layout(
                message, group, render_values=render_values
            )
            mail_values.append(
                {
                    "subject": email.subject or record.display_name,
                    "email_from": email.email_from or False,
                    "body_html": body,
                    "recipient_ids": [Command.link(pid) for pid in recipients],
                    "references": email.message_id,
                    "auto_delete": True,
                }
            )
            notifications.append(recipients)
        # sudo: the sync mails the followers it selected (all readers of the email).
        mails = self.env["mail.mail"].sudo().create(mail_values)
        self.env["mail.notification"].sudo().create(
            [
                {
                    "mail_message_id": message.id,
                    "mail_mail_id": mail.id,
                    "res_partner_id": partner_id,
                    "notification_type": "email",
                    "notification_status": "ready",
                    "is_read": True,
                }
                for mail, recipients in zip(mails, notifications, strict=True)
                for partner_id in recipients
            ]
        )
        return mails

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
