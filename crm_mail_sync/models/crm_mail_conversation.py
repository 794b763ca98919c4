# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A conversation (thread) of archived emails, as mail clients show them.

The import puts every email into one (``crm.mail.email._crm_mail_thread``). What a
user sees of a conversation comes from the emails of it that the user may read: its
subject, participants, count, date and unread state are computed per user, and a
user sees a conversation only when they may read one of its emails (record rule on
``has_readable_email``). The stored fields are the threading's own keys.
"""

from odoo import api, fields, models
from odoo.tools import SQL

from ..lib.addresses import address_list


class CrmMailConversation(models.Model):
    _name = "crm.mail.conversation"
    _description = "Email Conversation"
    _order = "last_date desc, id desc"

    # The subject key comes from the conversation's first email, which a reader may
    # not be allowed to open: administrators only (what users see is computed below).
    subject_key = fields.Char(
        readonly=True,
        index=True,
        groups="crm_mail_sync.group_crm_mail_manager",
        help="The normalised subject (no Re:/Fwd:/[tag], lowercase) a reply without "
        "references is matched by.",
    )
    last_date = fields.Datetime(
        string="Last Activity",
        readonly=True,
        index=True,
        help="The date of the conversation's newest email; the list's order.",
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    email_ids = fields.One2many("crm.mail.email", "conversation_id", string="Emails", readonly=True)
    # What the current user sees: computed from the emails they may read.
    subject = fields.Char(compute="_compute_reader_view", help="The subject of its first email.")
    participants = fields.Char(
        compute="_compute_reader_view", help="The addresses of From, To and Cc of its emails."
    )
    email_count = fields.Integer(
        string="Messages", compute="_compute_reader_view", help="The emails you may read in it."
    )
    date = fields.Datetime(
        string="Last Message", compute="_compute_reader_view", help="Its newest email you may read."
    )
    is_unread = fields.Boolean(
        string="Unread",
        compute="_compute_reader_view",
        search="_search_is_unread",
        help="One of its emails is unread for you.",
    )
    has_readable_email = fields.Boolean(
        compute="_compute_reader_view",
        search="_search_has_readable_email",
        help="You may read at least one of its emails (the record rule).",
    )

    @api.model
    def _crm_mail_create(self, vals_list):
        """Create conversations for the import, in one INSERT: ``vals_list`` holds
        ``subject_key``, ``company_id`` and ``last_date``; return them in that order.

        A whole batch's new conversations at once: through the ORM, creating them was
        the costliest part of threading (2,000 records a batch, nothing to compute:
        no default, no computed or related field to fill). A module adding fields to
        conversations fills them by overriding this method.
        """
        if not vals_list:
            return self.browse()
        cr = self.env.cr
        now, uid = cr.now(), self.env.uid
        rows = [
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s)",
                vals["subject_key"] or None,
                vals["company_id"],
                vals["last_date"] or None,
                uid,
                now,
                uid,
                now,
            )
            for vals in vals_list
        ]
        # A multi-row VALUES returns the ids in the order of its rows (as the ORM's own
        # _create relies on).
        cr.execute(
            SQL(
                """INSERT INTO crm_mail_conversation
                       (subject_key, company_id, last_date, create_uid, create_date,
                        write_uid, write_date)
                   VALUES %s RETURNING id""",
                SQL(", ").join(rows),
            )
        )
        conversations = self.browse([row[0] for row in cr.fetchall()])
        # Written behind the ORM's back: no cached value (e.g. a one2many) may stay.
        self.invalidate_model()
        return conversations

    @api.model
    def _crm_mail_update_last_date(self, ids):
        """Set ``last_date`` of the conversations ``ids`` (which just gained emails,
        stored already) to their newest email's date, in one statement."""
        if not ids:
            return
        self.env["crm.mail.email"].flush_model(["conversation_id", "date"])
        self.flush_model(["last_date"])
        self.env.cr.execute(
            """UPDATE crm_mail_conversation conversation SET last_date = newest.date
                 FROM (SELECT conversation_id, max(date) AS date FROM crm_mail_email
                        WHERE conversation_id = ANY(%s) GROUP BY conversation_id) newest
                WHERE conversation.id = newest.conversation_id""",
            (sorted(ids),),
        )
        self.invalidate_model(["last_date"])

    def _readable_emails(self):
        """The emails of these conversations that the current user may read, oldest
        first (one search, the user's record rules)."""
        Email = self.env["crm.mail.email"].with_env(self.env(su=False))
        return Email.search([("conversation_id", "in", self.ids)], order="date asc, id asc")

    @api.depends_context("uid")
    @api.depends("email_ids")
    def _compute_reader_view(self):
        emails = self._readable_emails()
        # By a search, as the "Unread" filter: the read state is the database's.
        emails.flush_model(["read_by_user_ids", "is_marked_read"])
        unread = {
            row[0]
            for row in emails.with_context(active_test=False)._read_group(
                [("id", "in", emails.ids), ("is_read", "=", False)], ["conversation_id"]
            )
        }
        by_conversation = {}
        for email in emails:
            by_conversation.setdefault(email.conversation_id.id, []).append(email)
        for conversation in self:
            mine = by_conversation.get(conversation.id, [])
            addresses = []
            for email in mine:
                addresses += address_list(email.from_address, email.recipient_addresses)
            conversation.subject = mine[0].subject if mine else False
            conversation.participants = ", ".join(dict.fromkeys(addresses)) or False
            conversation.email_count = len(mine)
            conversation.date = mine[-1].date if mine else False
            conversation.is_unread = conversation in unread
            conversation.has_readable_email = bool(mine)

    @api.depends_context("uid")
    def _compute_display_name(self):
        for conversation in self:
            conversation.display_name = conversation.subject or self.env._("(no subject)")

    def _readable_email_query(self, domain=()):
        # The user's own rules on the emails, even when Odoo evaluates this as
        # superuser (a record rule's domain is): env(su=False) keeps the user.
        Email = self.env["crm.mail.email"].with_env(self.env(su=False))
        Email.flush_model(["conversation_id", "read_by_user_ids", "is_marked_read"])
        query = Email._search([("conversation_id", "!=", False), *domain])
        return SQL("(%s)", query.select(SQL.identifier(Email._table, "conversation_id")))

    def _search_has_readable_email(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        inside = (operator == "=") == value
        return [("id", "in" if inside else "not in", self._readable_email_query())]

    def _search_is_unread(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        inside = (operator == "=") == value
        query = self._readable_email_query([("is_read", "=", False)])
        return [("id", "in" if inside else "not in", query)]

    def action_open_emails(self):
        """Button: the conversation's emails (those the user may read), oldest first."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.display_name,
            "res_model": "crm.mail.email",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("conversation_id", "=", self.id)],
            "context": {"search_default_not_trashed": 1},
        }

    def action_mark_read(self):
        """Mark every email of these conversations the user may read as read."""
        self._readable_emails().action_mark_read()
        return True
