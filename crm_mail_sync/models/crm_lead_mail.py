# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Leads from mail: in a group mailbox whose 'New Conversations' is 'Lead /
Opportunity', the first email of a new conversation opens a lead or opportunity of the
mailbox's sales team, assigned by Odoo's rule-based assignment or by one of the
add-on's distributions. The later emails of the conversation join it through the
linking's thread step and show in its chatter; its followers hear of them."""

from ast import literal_eval
from collections import defaultdict
from email.utils import formataddr

from odoo import api, models
from odoo.tools import clean_context

from ..lib.assignment import Turn, least_busy, round_robin


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.mail.conversation.mixin"]
    _crm_mail_conversation_action = "lead"

    # ------------------------------------------------------------------
    # The leads step of the import chain
    # ------------------------------------------------------------------

    @api.model
    def _crm_mail_process_emails(self, emails):
        """Open a lead for the first email of each new conversation of a lead mailbox.

        A conversation is new when none of its emails is in a lead's conversation
        already (linked to it by thread, reference, by hand, written from it or
        converted to it: an address alone does not make one). The batch is taken in
        thread order, oldest first: an email answering another of the batch, from one
        of its participants, goes where that one goes, so a first email and its reply
        fetched together make one lead.

        :return: the links to leads that are news for their followers (emails of the
            batch joining an existing lead's conversation here), for the caller to
            notify; a new lead's first emails are its history and notify nobody
        """
        Link = self.env["crm.mail.email.link"].sudo()
        if not emails or not self._crm_mail_conversation_accounts(emails):
            # Most batches: no lead mailbox. Replies to a lead's conversation joined it
            # in the linking step already.
            return Link
        # sudo: leads are opened by the sync, whoever runs it (the scheduled action, an
        # Emails administrator without Sales rights); without the caller's defaults,
        # and without following them to whoever triggered the sync.
        Lead = self.sudo().with_context(
            clean_context(self.env.context),
            mail_create_nosubscribe=True,
            crm_mail_sync_no_archive_link=True,
        )
        linked = {}
        for link in Link.search(
            [
                ("email_id", "in", emails.ids),
                ("res_model", "=", self._name),
                ("reason", "not in", self._crm_mail_loose_reasons()),
            ],
            order="id",
        ):
            linked.setdefault(link.email_id.id, Lead.browse(link.res_id))
        own_addresses = self.env["crm.mail.gateway"]._internal_addresses()[0]
        groups, starts = self._crm_mail_conversation_starts(
            emails,
            linked,
            lambda email: self._crm_mail_should_create_lead(email, own_addresses),
        )
        if not starts and not linked:
            return Link
        accounts = {
            root: self._crm_mail_conversation_accounts(email)[:1] for root, email in starts.items()
        }
        authors = self.env["crm.mail.linking"]._get_author_partners(list(starts.values()))
        new_leads = Lead.create(
            [
                self._crm_mail_prepare_lead_values(
                    email, accounts[root], authors.get(email.from_address)
                )
                for root, email in starts.items()
            ]
        )
        lead_of = dict(zip(starts, new_leads, strict=True))
        lead_of.update({root: linked[root] for root in groups if root in linked})
        quiet, news = defaultdict(dict), defaultdict(dict)
        for root, group in groups.items():
            lead = lead_of.get(root)
            if not lead:
                continue
            start = starts.get(root)
            if start:
                group = group[list(group).index(start) :]
            targets = quiet if lead in new_leads else news
            for email in group.filtered(lambda email, lead=lead: linked.get(email.id) != lead):
                reason = "created" if email == start else "thread"
                targets[email.id][(self._name, lead.id)] = reason
        leads_of_account = defaultdict(lambda: Lead.browse())
        for root, lead in zip(starts, new_leads, strict=True):
            leads_of_account[accounts[root]] |= lead
        for account, leads in leads_of_account.items():
            leads._crm_mail_assign_leads(account)
        Linking = self.env["crm.mail.linking"]
        Linking._create_links(emails.filtered(lambda e: e.id in quiet), quiet, notify=False)
        links = Linking._create_links(emails.filtered(lambda e: e.id in news), news, notify=False)
        # Like any lead gaining an address, a new one is linked to the archive's other
        # emails of its customer; after its conversation, whose reasons stay.
        new_leads._crm_mail_link_archive()
        return links

    @api.model
    def _crm_mail_loose_reasons(self):
        """Hook: the link reasons that do not put an email in a lead's conversation
        (an email from a customer with an open lead still opens a lead of its own, as
        with Odoo's email aliases)."""
        return ["address"]

    @api.model
    def _crm_mail_should_create_lead(self, email, own_addresses=None):
        """Hook: whether ``email``, in no lead's conversation yet, opens a lead.

        The rule of every mailbox action (``_crm_mail_may_open``: incoming, not
        automatic, live or archive mail as the mailbox says), and for a lead also: not
        in a case already (its case may be converted), not from a robot or a mailing
        list, not from one of this database's own mailboxes.
        """
        account = self._crm_mail_conversation_accounts(email)[:1]
        return bool(
            self._crm_mail_may_open(email, account)
            and not email.case_id
            and not email.no_auto_reply_reason
            and not self._crm_mail_from_own_address(email, own_addresses)
        )

    @api.model
    def _crm_mail_prepare_lead_values(self, email, account, author=None):
        """Hook: the ``create`` values of the lead ``email`` opens in ``account``.

        Name: the subject. Customer: the sender's contact when known, else the
        sender's name and address (no contact is created, as Odoo's mail gateway
        does). Team: the mailbox's; company: the team's, else the mailbox's; no
        salesperson yet
        (``_crm_mail_assign_leads``). Medium: Email. The email itself shows in the
        lead's chatter, under its own access rules: nothing of it is copied.

        :param author: the sender's partner, if known (found for the whole batch)
        """
        team = account._get_lead_team()
        name, address = email._sender_name_and_address()
        values = {
            "name": email.subject or self.env._("(no subject)"),
            "type": account._get_lead_type(),
            "team_id": team.id,
            "company_id": account._get_lead_company().id,
            "user_id": False,
            **self._crm_mail_customer_values(author, name, address),
        }
        medium = self.env.ref("utm.utm_medium_email", raise_if_not_found=False)
        if medium:
            values["medium_id"] = medium.id
        return values

    @api.model
    def _crm_mail_customer_values(self, partner, name, address):
        """The customer values of a lead made from mail: ``partner`` when known, else
        ``name`` and ``address`` (``email_from``, ``contact_name``)."""
        if partner:
            return {"partner_id": partner.id}
        if not address:
            return {"partner_id": False}
        return {
            "partner_id": False,
            "email_from": formataddr((name, address)) if name and name != address else address,
            "contact_name": name if name and name != address else False,
        }

    # ------------------------------------------------------------------
    # Assignment
    # ------------------------------------------------------------------

    def _crm_mail_assign_leads(self, account):
        """Hook: give these new leads of ``account`` a salesperson, as its
        ``lead_assignment`` says: ``crm`` (Odoo's rule-based assignment), or a
        distribution ``<name>`` carried out by ``_crm_mail_assign_<name>(account,
        candidates, turn)``: a module adds one with a ``selection_add`` on that field
        and one such method.

        :return: the leads' salespersons (``res.users``)
        """
        if account.lead_assignment == "crm":
            self._crm_mail_assign_by_team_rules()
            return self.user_id
        strategy = f"_crm_mail_assign_{account.lead_assignment}"
        for lead in self:
            turn = Turn(lambda: self._crm_mail_assignment_turn(account))
            candidates = self._crm_mail_team_candidates(
                lead.team_id, "sales_team.group_sale_salesman"
            )
            user = getattr(lead, strategy)(account, candidates, turn)
            if user:
                if turn.taken:
                    self._crm_mail_record_turn(account, user)
                # With the team: a salesperson outside it does not move the lead to
                # their own team (crm.lead._compute_team_id).
                lead._handle_salesmen_assignment(user_ids=user.ids, team_id=lead.team_id.id)
        return self.user_id

    def _crm_mail_assign_by_team_rules(self):
        """Odoo's rule-based lead assignment (``crm.team._assign_and_convert_leads``),
        for these new leads only: each team's salespersons who did not opt out, by
        their remaining daily capacity (``crm.team.member._get_assignment_quota``:
        their monthly capacity over 30, less the leads they got in the last 24
        hours), each taking the next lead their assignment domain accepts, in turn.

        Only while the CRM setting 'Rule-Based Assignment' is on, and not for a team
        that skips auto assignment; the leads nobody takes stay unassigned in their
        team, for Odoo's own assignment to take later. Unlike Odoo's scheduled
        assignment, the leads keep their type (the mailbox's 'Create As') and the
        caller's transaction (nothing is committed here).
        """
        # sudo: the sync assigns, whoever runs it: the team's memberships and the
        # leads counted in the capacities are the sales managers' to read.
        leads = self.sudo().filtered(lambda lead: lead.team_id and not lead.user_id)
        if not leads or not self._crm_mail_rule_assignment_enabled():
            return self.env["res.users"]
        members = leads.team_id.crm_team_member_ids
        # The capacities count the leads assigned earlier in this transaction too.
        members.invalidate_recordset(["lead_day_count"])
        quota = {member: member._get_assignment_quota() for member in members}
        assigned = defaultdict(list)
        for team in leads.team_id:
            if team.assignment_optout:
                continue
            team_leads = leads.filtered(lambda lead, team=team: lead.team_id == team)
            queue = sorted(
                (
                    member
                    for member in team.crm_team_member_ids
                    if not member.assignment_optout
                    and member.user_id.active
                    and quota.get(member, 0) > 0
                ),
                key=lambda member: quota[member],
                reverse=True,
            )
            accepted = {
                member: team_leads.filtered_domain(literal_eval(member.assignment_domain or "[]"))
                for member in queue
            }
            for lead in team_leads.sorted(lambda lead: (-lead.probability, lead.id)):
                member = next((member for member in queue if lead in accepted[member]), None)
                if not member:
                    continue
                assigned[(member.user_id.id, team.id)].append(lead.id)
                queue.remove(member)
                quota[member] -= 1
                if quota[member] > 0:
                    queue.append(member)
        for (user_id, team_id), lead_ids in assigned.items():
            leads.browse(lead_ids)._handle_salesmen_assignment(user_ids=[user_id], team_id=team_id)
        return leads.user_id

    @api.model
    def _crm_mail_rule_assignment_enabled(self):
        """Whether the CRM setting 'Rule-Based Assignment' is on."""
        # sudo: a system setting.
        return bool(
            self.env["ir.config_parameter"].sudo().get_param("crm.lead.auto.assignment", False)
        )

    def _crm_mail_assign_direct(self, account, candidates, turn):
        """Distribution: always the mailbox's chosen salesperson; no turn.

        Every ``_crm_mail_assign_<name>`` distribution is called on one lead and
        returns the salesperson (an empty ``res.users`` for nobody); it only chooses.

        :param account: the mailbox the lead came in through
        :param list candidates: user ids of the salespersons of the lead's team who
            may be given it, in their stable order
        :param turn: a ``lib.assignment.Turn``; reading ``turn.last`` takes the
            mailbox's turn, and the choice then becomes the new turn
        """
        return account.lead_user_id

    def _crm_mail_assign_round_robin(self, account, candidates, turn):
        """Distribution: the salesperson after the one whose turn it was last."""
        if not candidates:
            return self.env["res.users"]
        return self.env["res.users"].browse(round_robin(candidates, turn.last))

    def _crm_mail_assign_least_busy(self, account, candidates, turn):
        """Distribution: the salesperson with the fewest open leads and opportunities;
        ties go by turn."""
        if not candidates:
            return self.env["res.users"]
        last = turn.last
        groups = self._read_group(
            [
                ("user_id", "in", candidates),
                ("id", "!=", self.id),
                "|",
                ("stage_id", "=", False),
                ("stage_id.is_won", "=", False),
            ],
            ["user_id"],
            ["__count"],
        )
        counts = {user.id: count for user, count in groups}
        return self.env["res.users"].browse(least_busy(candidates, counts, last))
