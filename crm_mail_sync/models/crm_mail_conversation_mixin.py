# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Records a group mailbox opens for the first email of a conversation: cases
(``crm.mail.case``) and leads (``crm.lead``), as its ``conversation_action`` says.

Both follow one rule, kept here: which mailboxes open them, which emails may open one
(loop safety, archive mode), how a batch is grouped into conversations, who may be
assigned and whose turn it is."""

from collections import defaultdict

from odoo import api, fields, models

from ..lib.addresses import address_forms, is_own_address


class CrmMailConversationMixin(models.AbstractModel):
    _name = "crm.mail.conversation.mixin"
    _description = "Record Opened by the First Email of a Conversation"

    # The value of ``crm.mail.account.conversation_action`` that opens records of the
    # inheriting model ("case", "lead").
    _crm_mail_conversation_action = None

    # ------------------------------------------------------------------
    # Which mailboxes, which emails
    # ------------------------------------------------------------------

    @api.model
    def _crm_mail_conversation_accounts(self, emails):
        """The group mailboxes of ``emails`` whose first emails of a conversation open
        a record of this model."""
        action = self._crm_mail_conversation_action
        return emails.account_ids.filtered(
            lambda account: (
                account.account_type == "group" and account.conversation_action == action
            )
        )

    @api.model
    def _crm_mail_may_open(self, email, account):
        """Hook: the rule every mailbox action shares: ``email``, come into
        ``account``, may open a record when it is incoming (not mail we sent, nor mail
        from the mailbox's own address), not sent by a program (RFC 3834), and live
        mail, or archive mail when the mailbox asks for it (``archive_create_cases``)."""
        return bool(
            account
            and email.direction == "incoming"
            and not email.is_auto_submitted
            and (email.import_mode == "live" or account.archive_create_cases)
        )

    @api.model
    def _crm_mail_from_own_address(self, email, own_addresses=None):
        """Whether ``email`` comes from an address this database fetches itself (one of
        its mailboxes, with or without a plus tag): a loop between mailboxes.

        :param own_addresses: ``crm.mail.gateway._internal_addresses()[0]``, when the
            caller has it
        """
        if own_addresses is None:
            own_addresses = self.env["crm.mail.gateway"]._internal_addresses()[0]
        return bool(email.from_address) and is_own_address(email.from_address, own_addresses)

    # ------------------------------------------------------------------
    # Conversations of a batch
    # ------------------------------------------------------------------

    @api.model
    def _crm_mail_conversation_starts(self, emails, linked, may_start):
        """Group ``emails`` by conversation and find where each new one starts.

        :param dict linked: email id -> the record its conversation is in already
        :param may_start: callable(email) -> whether the email may open a record
        :return: ``(groups, starts)``: the groups of ``_crm_mail_thread_groups``, and
            ``{group's first email id: email opening the record}`` for the groups in
            no record yet, ordered as the opening emails arrived (a group's emails
            before its opening one, our own mail or a robot's, stay out)
        """
        groups = self._crm_mail_thread_groups(emails, linked)
        starts = {}
        for root, group in groups.items():
            if root not in linked:
                start = next((email for email in group if may_start(email)), None)
                if start:
                    starts[root] = start
        return groups, dict(sorted(starts.items(), key=lambda start: start[1].id))

    @api.model
    def _crm_mail_thread_groups(self, emails, linked):
        """Group a batch of emails by conversation, in thread order (oldest first).

        :param dict linked: email id -> the record it is in already; such an email
            heads a group of its own
        :return: dict ``{id of the group's first email: emails of the group}``
        """
        ordered = emails.sorted(lambda email: (email.date or fields.Datetime.now(), email.id))
        root_of, earlier = {}, {}
        groups = defaultdict(lambda: emails.browse())
        for email in ordered:
            parent = None if email.id in linked else self._crm_mail_batch_parent(email, earlier)
            root_of[email.id] = root_of[parent.id] if parent else email.id
            earlier.setdefault(email.message_id, email)
            groups[root_of[email.id]] |= email
        return groups

    @api.model
    def _crm_mail_batch_parent(self, email, earlier):
        """The email of ``earlier`` (Message-ID -> email, same batch) that ``email``
        answers, when its sender took part in it."""
        sender = set(address_forms(email.from_address)) if email.from_address else set()
        for ref in email._thread_references():
            parent = earlier.get(ref)
            if parent and sender & parent._addresses():
                return parent
        return None

    # ------------------------------------------------------------------
    # Assignment
    # ------------------------------------------------------------------

    @api.model
    def _crm_mail_team_candidates(self, team, group_xmlid):
        """Members (and leader) of ``team`` who may be given a record, in a stable
        order (by id): active internal users of the group ``group_xmlid``, less the
        members who opted out of automatic assignment on their membership of the team
        (``crm.team.member.assignment_optout``, as for CRM leads), the leader too
        when they are such a member."""
        opted_out = team.crm_team_member_ids.filtered("assignment_optout").user_id
        members = (team.member_ids | team.user_id) - opted_out
        members = members.filtered(
            lambda user: user.active and not user.share and user.has_group(group_xmlid)
        )
        return sorted(members.ids)

    @api.model
    def _crm_mail_assignment_turn(self, account):
        """The user id ``account`` assigned last (or None), read under a row lock.

        The lock on the mailbox's row is held until the transaction ends, so
        concurrent imports into the same mailbox take their turns one after the other
        and neither skip nor repeat one; the turn is in the database, so it survives
        restarts. Strategies read it through ``turn.last`` rather than directly.
        """
        account.ensure_one()
        account.flush_recordset(["last_assigned_user_id"])
        self.env.cr.execute(
            "SELECT last_assigned_user_id FROM crm_mail_account WHERE id = %s FOR NO KEY UPDATE",
            (account.id,),
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _crm_mail_record_turn(self, account, user):
        """Record ``user`` as ``account``'s last turn; call after
        ``_crm_mail_assignment_turn``."""
        self.env.cr.execute(
            "UPDATE crm_mail_account SET last_assigned_user_id = %s WHERE id = %s",
            (user.id, account.id),
        )
        account.invalidate_recordset(["last_assigned_user_id"])
