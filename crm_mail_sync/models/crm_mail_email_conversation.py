# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The conversation an email belongs to (``crm.mail.conversation``): set when it is
stored (``_crm_mail_thread``, the rule of ``lib/threading.py``), and the whole
thread as the email's form shows it."""

from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools.misc import format_datetime

from ..lib.addresses import address_forms, address_list
from ..lib.threading import (
    SUBJECT_WINDOW,
    DisjointSet,
    choose_root,
    fold_quotes,
    normalize_subject,
    same_people,
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
        """Put these emails (just stored, in no conversation yet) into conversations,
        in a few queries for the whole batch: their parents' and replies'
        conversations, else a conversation of the same subject between the same
        people (``lib/threading.py``), else a new one. Conversations an email joins
        together (a parent arriving after its replies) merge into the oldest."""
        emails = self.filtered(lambda email: not email.conversation_id)
        if not emails:
            return
        emails = emails.sorted(lambda email: (email.date or fields.Datetime.now(), email.id))
        info = {}
        for email in emails:
            key, is_reply = normalize_subject(email.subject)
            info[email.id] = {
                "email": email,
                "refs": email._thread_references(),
                "key": key,
                "is_reply": is_reply,
                "sender": email.from_address,
                "addresses": email._addresses(),
            }
        nodes = DisjointSet()
        for email in emails:
            nodes.add(("email", email.id))
        threaded = self._crm_mail_thread_by_references(emails, info, nodes)
        loose = [
            email
            for email in emails
            if email.id not in threaded and info[email.id]["is_reply"] and info[email.id]["key"]
        ]
        if loose:
            self._crm_mail_thread_by_subject(emails, loose, info, nodes)
        self._crm_mail_apply_threads(nodes, info)

    @api.model
    def _crm_mail_thread_by_references(self, emails, info, nodes):
        """Join ``emails`` with the emails they answer and the emails answering them,
        in the batch and in the archive (same company); return the ids of the emails
        so joined."""
        cr = self.env.cr
        ids = emails.ids
        own_ids = {email.message_id for email in emails}
        wanted = own_ids.union(*(item["refs"] for item in info.values()))
        self.flush_model(["message_id", "in_reply_to", "company_id", "conversation_id"])
        # Parents, and the same message stored before (another fingerprint).
        cr.execute(
            """SELECT message_id, company_id, conversation_id FROM crm_mail_email
                WHERE message_id = ANY(%s) AND conversation_id IS NOT NULL
                  AND NOT id = ANY(%s)""",
            (list(wanted), ids),
        )
        stored = defaultdict(set)
        for message_id, company_id, conversation_id in cr.fetchall():
            stored[(message_id, company_id)].add(conversation_id)
        # Replies stored before the email they answer (out of order).
        cr.execute(
            """SELECT in_reply_to, company_id, conversation_id FROM crm_mail_email
                WHERE in_reply_to = ANY(%s) AND conversation_id IS NOT NULL
                  AND NOT id = ANY(%s)""",
            (list(own_ids), ids),
        )
        replies = defaultdict(set)
        for in_reply_to, company_id, conversation_id in cr.fetchall():
            replies[(in_reply_to, company_id)].add(conversation_id)
        in_batch = defaultdict(list)
        for email in emails:
            in_batch[(email.message_id, email.company_id.id)].append(email.id)
        threaded = set()
        for email in emails:
            node, company_id = ("email", email.id), email.company_id.id
            for message_id in [email.message_id, *info[email.id]["refs"]]:
                for conversation_id in stored.get((message_id, company_id), ()):
                    nodes.union(node, ("conversation", conversation_id))
                    threaded.add(email.id)
                for other_id in in_batch.get((message_id, company_id), ()):
                    if other_id != email.id:
                        nodes.union(node, ("email", other_id))
                        threaded.update((email.id, other_id))
            for conversation_id in replies.get((email.message_id, company_id), ()):
                nodes.union(node, ("conversation", conversation_id))
                threaded.add(email.id)
        return threaded

    @api.model
    def _crm_mail_thread_by_subject(self, emails, loose, info, nodes):
        """Join each of ``loose`` (replies by their subject, answering nothing known)
        with a conversation of the same normalised subject, between the same people,
        with an email at most ``SUBJECT_WINDOW`` apart: one of the batch's, else one
        of the archive's."""
        keys = sorted({info[email.id]["key"] for email in loose})
        dates = [email.date for email in loose if email.date]
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
                      AND email.date BETWEEN %s AND %s AND NOT email.id = ANY(%s)""",
                (keys, min(dates) - SUBJECT_WINDOW, max(dates) + SUBJECT_WINDOW, emails.ids),
            )
            for (
                conversation_id,
                key,
                company_id,
                date,
                sender,
                recipients,
            ) in self.env.cr.fetchall():
                candidates[(key, company_id)].append(
                    (("conversation", conversation_id), date, sender, recipients)
                )
        for email in emails:
            item = info[email.id]
            if item["key"]:
                candidates[(item["key"], email.company_id.id)].append(
                    (("email", email.id), email.date, email.from_address, None)
                )
        for email in loose:
            item = info[email.id]
            for node, date, sender, recipients in candidates[(item["key"], email.company_id.id)]:
                if node == ("email", email.id) or not within_window(email.date, date):
                    continue
                addresses = (
                    info[node[1]]["addresses"]
                    if node[0] == "email"
                    else _forms(address_list(sender, recipients))
                )
                if same_people(item["sender"], item["addresses"], sender, addresses):
                    nodes.union(("email", email.id), node)
                    break

    @api.model
    def _crm_mail_apply_threads(self, nodes, info):
        """Write the conversations ``nodes`` groups: create the new ones, merge those
        joined together into the oldest, set the emails' (a few queries a batch)."""
        # sudo: the conversations are the import's bookkeeping; what a user sees of
        # one is computed from the emails they may read.
        Conversation = self.env["crm.mail.conversation"].sudo()
        groups = list(nodes.groups().values())
        to_create, merged, assign = [], {}, []
        for group in groups:
            conversation_ids = [node[1] for node in group if node[0] == "conversation"]
            email_ids = [node[1] for node in group if node[0] == "email"]
            root = choose_root(conversation_ids)
            for other in conversation_ids:
                if other != root:
                    merged[other] = root
            if root is None:
                first = min(
                    (info[email_id]["email"] for email_id in email_ids),
                    key=lambda email: (email.date or fields.Datetime.now(), email.id),
                )
                to_create.append(
                    (
                        email_ids,
                        {
                            "subject_key": info[first.id]["key"] or False,
                            "company_id": first.company_id.id,
                        },
                    )
                )
            else:
                assign += [(email_id, root) for email_id in email_ids]
        if to_create:
            created = Conversation.create([values for _ids, values in to_create])
            for (email_ids, _values), conversation in zip(to_create, created, strict=True):
                assign += [(email_id, conversation.id) for email_id in email_ids]
        cr = self.env.cr
        if merged:
            cr.execute(
                """UPDATE crm_mail_email email SET conversation_id = merge.root
                     FROM unnest(%s::int[], %s::int[]) AS merge(old, root)
                    WHERE email.conversation_id = merge.old""",
                (list(merged), list(merged.values())),
            )
            Conversation.browse(list(merged)).unlink()
        if assign:
            cr.execute(
                """UPDATE crm_mail_email email SET conversation_id = thread.conversation_id
                     FROM unnest(%s::int[], %s::int[]) AS thread(email_id, conversation_id)
                    WHERE email.id = thread.email_id""",
                ([email_id for email_id, _c in assign], [c for _e, c in assign]),
            )
            touched = sorted({conversation_id for _e, conversation_id in assign})
            cr.execute(
                """UPDATE crm_mail_conversation conversation SET last_date = newest.date
                     FROM (SELECT conversation_id, max(date) AS date FROM crm_mail_email
                            WHERE conversation_id = ANY(%s) GROUP BY conversation_id) newest
                    WHERE conversation.id = newest.conversation_id""",
                (touched,),
            )
        self.invalidate_model(["conversation_id"])
        Conversation.invalidate_model(["email_ids", "last_date"])

    # ------------------------------------------------------------------
    # The thread in the form
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    @api.depends("conversation_id", "body_html")
    def _compute_conversation_html(self):
        # The user's rules, even when read as superuser: only emails they may read.
        Email = self.with_env(self.env(su=False))
        readable = Email.search(
            [("conversation_id", "in", self.conversation_id.ids)], order="date asc, id asc"
        )
        by_conversation = defaultdict(lambda: Email.browse())
        for email in readable:
            by_conversation[email.conversation_id.id] |= email
        for email in self:
            thread = by_conversation[email.conversation_id.id] if email.conversation_id else Email
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
