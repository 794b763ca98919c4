# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Cases from mail: the first email of a conversation in a case mailbox opens a case,
later ones join it, a closed case reopens on the customer's reply, and a new case
may get an auto-reply. Cases are linkable like contacts and leads (their emails show
in their chatter), through thread and reference only: no address matches a case."""

from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models


class CrmMailCase(models.Model):
    _name = "crm.mail.case"
    _inherit = ["crm.mail.case", "crm.mail.linked.mixin", "crm.mail.conversation.mixin"]
    _crm_mail_conversation_action = "case"

    # ------------------------------------------------------------------
    # The cases step of the import chain
    # ------------------------------------------------------------------

    @api.model
    def _process_emails(self, emails):
        """Attach emails to their case, or open a case for the first of a conversation.

        The batch is taken in thread order, oldest first: an email answering another
        of the batch, from one of its participants, goes where that one goes, so a
        first email and its reply fetched together make one case.

        :return: the links to cases that are news for the cases' followers (replies
            joining an existing case), for the caller to notify; a new case's first
            emails are its history and notify nobody
        """
        Link = self.env["crm.mail.email.link"].sudo()
        # sudo: cases are opened by the sync, whoever runs it.
        Case = self.sudo()
        if not emails:
            return Link
        linked = {}
        for link in Link.search(
            [("email_id", "in", emails.ids), ("res_model", "=", self._name)], order="id"
        ):
            linked.setdefault(link.email_id.id, Case.browse(link.res_id))
        if not linked and not self._case_accounts(emails):
            # Most batches: no case mailbox, no reply to a case. Nothing to do, and
            # nothing to ask of each email.
            return Link
        # A conversation of the batch with no case yet opens one at its first email
        # that may open a case; the ones before it (our own mail, robots) stay out.
        # Opened (and assigned: round robin, least busy) in the order their first emails
        # arrived, as if the batch's messages had come one at a time.
        groups, starts = self._crm_mail_conversation_starts(
            emails, linked, self._should_create_case
        )
        Linking = self.env["crm.mail.linking"]
        authors = Linking._get_author_partners(list(starts.values()))
        new_cases = Case.create(
            [
                self._prepare_case_values(email, authors.get(email.from_address))
                for email in starts.values()
            ]
        )
        case_of = dict(zip(starts, new_cases, strict=True))
        case_of.update({root: linked[root] for root in groups if root in linked})
        quiet, news = defaultdict(dict), defaultdict(dict)
        for root, group in groups.items():
            case = case_of.get(root)
            if not case:
                continue
            if root in starts:
                group = group[list(group).index(starts[root]) :]
            group.write({"case_id": case.id})
            targets = quiet if case in new_cases else news
            for email in group.filtered(lambda email, case=case: linked.get(email.id) != case):
                targets[email.id][(self._name, case.id)] = "thread"
            if case not in new_cases:
                self._reopen_case(case, group)
        for case in new_cases:
            case._assign_case_user()
            if case.partner_id:
                case.message_subscribe(partner_ids=case.partner_id.ids)
        Linking._create_links(emails.filtered(lambda e: e.id in quiet), quiet, notify=False)
        links = Linking._create_links(emails.filtered(lambda e: e.id in news), news, notify=False)
        for email, case in zip(starts.values(), new_cases, strict=True):
            if self._should_auto_reply(email):
                case._send_auto_reply(email)
        return links

    @api.model
    def _case_accounts(self, emails):
        """The mailboxes of ``emails`` that turn mail into cases (see ``_case_account``)."""
        return self._crm_mail_conversation_accounts(emails)

    @api.model
    def _case_account(self, email):
        """The group mailbox of ``email`` that turns mail into cases, if any."""
        return self._case_accounts(email)[:1]

    @api.model
    def _should_create_case(self, email):
        """Hook: whether ``email``, in no case yet, starts a new one (the rule of every
        mailbox action, ``_crm_mail_may_open``)."""
        return self._crm_mail_may_open(email, self._case_account(email))

    @api.model
    def _prepare_case_values(self, email, author=None):
        """Hook: the ``create`` values of the case ``email`` opens.

        :param author: the sender's partner, if known (found for the whole batch)
        """
        account = self._case_account(email)
        return {
            "subject": email.subject or self.env._("(no subject)"),
            "partner_id": author.id if author else False,
            "account_id": account.id,
            "team_id": (account.case_team_id or account.team_ids[:1]).id,
        }

    @api.model
    def _reopen_case(self, case, emails):
        """Hook: a customer's live mail on a closed case reopens it, when its mailbox
        says so; mail the case sent itself (a synced Sent copy) never does."""
        incoming = emails.filtered(
            lambda email: email.direction == "incoming" and email.import_mode == "live"
        )
        if not incoming:
            return
        account = self._case_account(incoming[:1]) or case.account_id
        if account.reopen_closed_cases:
            case._reopen()

    @api.model
    def _should_auto_reply(self, email):
        """Hook: whether ``email``, which just opened a case, gets an auto-reply.

        Never for archive mail, for mail RFC 3834 says not to answer, for mail from an
        address this database fetches itself, or past the per-sender rate limit.
        """
        account = self._case_account(email)
        if not account.auto_reply_template_id or email.import_mode != "live":
            return False
        if email.no_auto_reply_reason or not email.from_address:
            return False
        if self._crm_mail_from_own_address(email):
            return False
        since = fields.Datetime.now() - timedelta(hours=account.auto_reply_period_hours or 24)
        sent = (
            self.env["crm.mail.auto.reply"]
            .sudo()
            .search_count(
                [
                    ("account_id", "=", account.id),
                    ("address", "=", email.from_address),
                    ("create_date", ">=", since),
                ]
            )
        )
        return sent < max(account.auto_reply_limit, 0)
