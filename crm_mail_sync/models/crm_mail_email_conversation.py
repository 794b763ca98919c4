# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The conversation an email belongs to (``crm.mail.conversation``): decided before
the import creates it (``_crm_mail_thread_values``), or once stored for the other
ways in (``_crm_mail_thread``), by the rule of ``lib/threading.py``; and the whole
thread as the email's form shows it."""

from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import format_datetime

from ..lib.addresses import address_forms, address_list
from ..lib.threading import (
    SUBJECT_WINDOW,
    DisjointSet,
    choose_root,
    fold_quotes,
    normalize_subject,
    same_people,
    thread_references,
    within_window,
)


def _forms(addresses):
    return {form for address in addresses for form in address_forms(address)}


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    conversation_id = fields.Many2one(
        "crm.mail.conversation",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The thread this email is part of: by its references (In-Reply-To, "
        "References), else by a reply's subject between the same people within a week.",
    )
    conversation_count = fields.Integer(
        string="Messages in Conversation",
        compute="_compute_conversation_html",
        help="The emails of this conversation you may read.",
    )
    conversation_html = fields.Html(
        string="Thread",
        compute="_compute_conversation_html",
        sanitize=False,  # built from body_display, sanitised when stored; headers escaped
        help="Every email of the conversation you may read, oldest first, with the "
        "quoted history folded.",
    )

    # ------------------------------------------------------------------
    # Threading
    # ------------------------------------------------------------------

    def _crm_mail_thread(self):
        """Put these emails (stored, in no conversation yet) into conversations, in a
        few queries for the whole batch: their parents' and replies' conversations,
        else a conversation of the same subject between the same people
        (``lib/threading.py``), else a new one. Conversations an email joins together
        (a parent arriving after its replies) merge into the oldest.

        The import threads its new emails before creating them
        (``_crm_mail_thread_values``); this is for emails stored otherwise (mail sent
        from Odoo, the migration)."""
        emails = self.filtered(lambda email: not email.conversation_id)
        if not emails:
            return
        messages = {
            email.id: self._crm_mail_thread_message(
                {
                    "message_id": email.message_id,
                    "company_id": email.company_id.id,
                    "date": email.date,
                    "subject": email.subject,
                    "in_reply_to": email.in_reply_to,
                    "references": email.references,
                    "from_address": email.from_address,
                    "recipient_addresses": email.recipient_addresses,
                }
            )
            for email in emails
        }
        conversation_of, gained = self._crm_mail_thread_conversations(
            self._crm_mail_thread_plan(messages, exclude_ids=emails.ids), messages
        )
        self.env.cr.execute(
            """UPDATE crm_mail_email email SET conversation_id = thread.conversation_id
                 FROM unnest(%s::int[], %s::int[]) AS thread(email_id, conversation_id)
                WHERE email.id = thread.email_id""",
            (list(conversation_of), list(conversation_of.values())),
        )
        self.invalidate_model(["conversation_id"])
        Conversation = self.env["crm.mail.conversation"]
        Conversation._crm_mail_update_last_date(gained)
        Conversation.invalidate_model(["email_ids"])

    @api.model
    def _crm_mail_thread_values(self, vals_list):
        """Put new emails into conversations before they are created: set
        ``conversation_id`` in their ``create`` values (``vals_list``, one batch), by
        the rule of ``_crm_mail_thread``, creating the new conversations. Creating
        the emails in their conversation spares an UPDATE of every fresh row.

        :return: the ids of the conversations stored before that gain emails: once
            the emails are created, ``crm.mail.conversation._crm_mail_update_last_date``
            must be called with them
        """
        messages = {
            index: self._crm_mail_thread_message(vals)
            for index, vals in enumerate(vals_list)
            if not vals.get("conversation_id")
        }
        if not messages:
            return set()
        conversation_of, gained = self._crm_mail_thread_conversations(
            self._crm_mail_thread_plan(messages), messages
        )
        for index, conversation_id in conversation_of.items():
            vals_list[index]["conversation_id"] = conversation_id
        return gained

    @api.model
    def _crm_mail_thread_message(self, values):
        """Hook: what threading knows of an email, from its field values (a record's
        or ``create`` values): ``message_id``, ``company_id``, ``date``, ``subject``,
        ``in_reply_to``, ``references``, ``from_address``, ``recipient_addresses``."""
        key, is_reply = normalize_subject(values.get("subject"))
        sender = values.get("from_address")
        return {
            "message_id": values.get("message_id"),
            "company_id": values.get("company_id") or False,
            "date": fields.Datetime.to_datetime(values.get("date")),
            "refs": thread_references(values.get("in_reply_to"), values.get("references")),
            "key": key,
            "is_reply": is_reply,
            "sender": sender,
            "addresses": _forms(address_list(sender, values.get("recipient_addresses"))),
        }

    @api.model
    def _crm_mail_thread_plan(self, messages, exclude_ids=()):
        """Group ``messages`` into conversations, by the rule of ``_crm_mail_thread``.

        :param dict messages: ``{key: _crm_mail_thread_message(...)}``; the keys order
            messages of the same date (ids, or positions in the batch to create)
        :param exclude_ids: the ids of these messages' own stored emails, if stored
        :return: a list of ``(keys, conversation_ids)``: the messages of one
            conversation, and the stored conversations they join (none: a new one;
            several: to merge into the oldest)
        """
        now = fields.Datetime.now()
        order = sorted(messages, key=lambda key: (messages[key]["date"] or now, key))
        nodes = DisjointSet()
        for key in order:
            nodes.add(("email", key))
        exclude_ids = list(exclude_ids)
        threaded = self._crm_mail_thread_by_references(order, messages, nodes, exclude_ids)
        loose = [
            key
            for key in order
            if key not in threaded and messages[key]["is_reply"] and messages[key]["key"]
        ]
        if loose:
            self._crm_mail_thread_by_subject(order, loose, messages, nodes, exclude_ids)
        plan = []
        for group in nodes.groups().values():
            plan.append(
                (
                    [node[1] for node in group if node[0] == "email"],
                    [node[1] for node in group if node[0] == "conversation"],
                )
            )
        return plan

    @api.model
    def _crm_mail_thread_by_references(self, order, messages, nodes, exclude_ids):
        """Join the messages (keys ``order``) with those they answer and those
        answering them, in the batch and in the archive (same company); return the
        keys of the messages so joined."""
        own_ids = {messages[key]["message_id"] for key in order}
        wanted = own_ids.union(*(messages[key]["refs"] for key in order))
        self.flush_model(["message_id", "in_reply_to", "company_id", "conversation_id"])
        # Parents, and the same message stored before (another fingerprint).
        stored = self._crm_mail_stored_conversations("message_id", wanted, exclude_ids)
        # Replies stored before the message they answer (out of order).
        replies = self._crm_mail_stored_conversations("in_reply_to", own_ids, exclude_ids)
        in_batch = defaultdict(list)
        for key in order:
            message = messages[key]
            in_batch[(message["message_id"], message["company_id"])].append(key)
        threaded = set()
        for key in order:
            message = messages[key]
            node, company_id = ("email", key), message["company_id"]
            for message_id in [message["message_id"], *message["refs"]]:
                for conversation_id in stored.get((message_id, company_id), ()):
                    nodes.union(node, ("conversation", conversation_id))
                    threaded.add(key)
                for other in in_batch.get((message_id, company_id), ()):
                    if other != key:
                        nodes.union(node, ("email", other))
                        threaded.update((key, other))
            for conversation_id in replies.get((message["message_id"], company_id), ()):
                nodes.union(node, ("conversation", conversation_id))
                threaded.add(key)
        return threaded

    @api.model
    def _crm_mail_stored_conversations(self, column, values, exclude_ids):
        """``{(value, company id): {conversation ids}}`` of the stored emails (but
        ``exclude_ids``) in a conversation whose ``column`` is one of ``values``."""
        self.env.cr.execute(
            SQL(
                """SELECT %(column)s, company_id, conversation_id FROM crm_mail_email
                    WHERE %(column)s = ANY(%(values)s) AND conversation_id IS NOT NULL
                      AND NOT id = ANY(%(exclude)s::int[])""",
                column=SQL.identifier(column),
                values=list(values),
                exclude=list(exclude_ids),
            )
        )
        found = defaultdict(set)
        for value, company_id, conversation_id in self.env.cr.fetchall():
            found[(value, company_id)].add(conversation_id)
        return found

    @api.model
    def _crm_mail_thread_by_subject(self, order, loose, messages, nodes, exclude_ids):
        """Join each of ``loose`` (replies by their subject, answering nothing known)
        with a conversation of the same normalised subject, between the same people,
        with an email at most ``SUBJECT_WINDOW`` apart: one of the batch's (keys
        ``order``), else one of the archive's."""
        keys = sorted({messages[key]["key"] for key in loose})
        dates = [messages[key]["date"] for key in loose if messages[key]["date"]]
        candidates = defaultdict(list)
        if dates:
            self.env["crm.mail.conversation"].flush_model(["subject_key"])
            self.flush_model(["date", "from_address", "recipient_addresses"])
            self.env.cr.execute(
                """SELECT email.conversation_id, conversation.subject_key, email.company_id,
                          email.date, email.from_address, email.recipient_addresses
                     FROM crm_mail_email email
                     JOIN crm_mail_conversation conversation
                       ON conversation.id = email.conversation_id
                    WHERE conversation.subject_key = ANY(%s)
                      AND email.date BETWEEN %s AND %s AND NOT email.id = ANY(%s::int[])""",
                (keys, min(dates) - SUBJECT_WINDOW, max(dates) + SUBJECT_WINDOW, exclude_ids),
            )
            for (
                conversation_id,
                subject_key,
                company_id,
                date,
                sender,
                recipients,
            ) in self.env.cr.fetchall():
                candidates[(subject_key, company_id)].append(
                    (("conversation", conversation_id), date, sender, recipients)
                )
        for key in order:
            message = messages[key]
            if message["key"]:
                candidates[(message["key"], message["company_id"])].append(
                    (("email", key), message["date"], message["sender"], None)
                )
        # An archived email is a candidate of many replies: its addresses once each.
        archived_forms = {}
        for key in loose:
            message = messages[key]
            for node, date, sender, recipients in candidates[
                (message["key"], message["company_id"])
            ]:
                if node == ("email", key) or not within_window(message["date"], date):
                    continue
                if not (sender and sender in message["addresses"]):
                    continue  # not the same people: spares the candidate's addresses
                if node[0] == "email":
                    addresses = messages[node[1]]["addresses"]
                else:
                    addresses = archived_forms.get((sender, recipients))
                    if addresses is None:
                        addresses = archived_forms[(sender, recipients)] = _forms(
                            address_list(sender, recipients)
                        )
                if same_people(message["sender"], message["addresses"], sender, addresses):
                    nodes.union(("email", key), node)
                    break

    @api.model
    def _crm_mail_thread_conversations(self, plan, messages):
        """Give each group of ``plan`` (``_crm_mail_thread_plan``) its conversation:
        the one it joins, the oldest of those it joins (the others merge into it: their
        emails move, they are deleted), else a new one (all created in one INSERT,
        ``last_date`` the group's newest date).

        :return: ``({key: conversation id}, ids of the stored conversations that gain
            messages)``; ``last_date`` of the latter is left to update once the
            messages' emails are stored
        """
        # sudo: the conversations are the import's bookkeeping; what a user sees of
        # one is computed from the emails they may read.
        Conversation = self.env["crm.mail.conversation"].sudo()
        now = fields.Datetime.now()
        to_create, merged, conversation_of, gained = [], {}, {}, set()
        for keys, conversation_ids in plan:
            root = choose_root(conversation_ids)
            for other in conversation_ids:
                if other != root:
                    merged[other] = root
            if root is None:
                first = messages[min(keys, key=lambda key: (messages[key]["date"] or now, key))]
                dates = [messages[key]["date"] for key in keys if messages[key]["date"]]
                to_create.append(
                    (
                        keys,
                        {
                            "subject_key": first["key"] or False,
                            "company_id": first["company_id"],
                            "last_date": max(dates, default=False),
                        },
                    )
                )
            else:
                gained.add(root)
                conversation_of.update(dict.fromkeys(keys, root))
        if to_create:
            created = Conversation._crm_mail_create([values for _keys, values in to_create])
            for (keys, _values), conversation_id in zip(to_create, created.ids, strict=True):
                conversation_of.update(dict.fromkeys(keys, conversation_id))
        if merged:
            # Rare (a parent arriving after replies in two conversations): the only
            # UPDATE of stored emails.
            self.flush_model(["conversation_id"])
            self.env.cr.execute(
                """UPDATE crm_mail_email email SET conversation_id = merge.root
                     FROM unnest(%s::int[], %s::int[]) AS merge(old, root)
                    WHERE email.conversation_id = merge.old""",
                (list(merged), list(merged.values())),
            )
            self.invalidate_model(["conversation_id"])
            Conversation.browse(list(merged)).unlink()
        return conversation_of, gained

    # ------------------------------------------------------------------
    # The thread in the form
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    @api.depends("conversation_id", "body_html")
    def _compute_conversation_html(self):
        # The user's rules, even when read as superuser: only emails they may read.
        by_conversation = self.conversation_id._readable_emails().grouped("conversation_id")
        Email = self.browse()
        for email in self:
            thread = by_conversation.get(email.conversation_id, Email)
            email.conversation_count = len(thread)
            email.conversation_html = self._render_thread(thread, email) if thread else False

    @api.model
    def _render_thread(self, thread, current):
        """Hook: the HTML of ``thread`` (emails, oldest first), ``current`` marked."""
        summary = self.env._("Show quoted text")
        parts = []
        for email in thread:
            date = format_datetime(self.env, email.date) if email.date else ""
            header = Markup(
                '<div class="o_crm_mail_thread_header"><strong>%s</strong>'
                ' <span style="color: #6c757d;">%s</span><br/>'
                '<small style="color: #6c757d;">%s %s</small></div>'
            ) % (email.email_from or "", date, self.env._("To:"), email.email_to or "")
            body = Markup(fold_quotes(str(email.body_display or ""), summary))
            # Inline styles: the form shows the thread in a sandboxed frame.
            color = "#714b67" if email == current else "#dee2e6"
            parts.append(
                Markup(
                    '<section class="o_crm_mail_thread_message" data-email-id="%s"'
                    ' style="border-left: 3px solid %s; padding-left: 12px; margin-bottom: 16px;">'
                    "%s%s</section>"
                )
                % (email.id, color, header, body)
            )
        return Markup("").join(parts)
