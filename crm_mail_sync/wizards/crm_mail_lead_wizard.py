# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Opportunities from mail: a lead or opportunity made of emails (one per conversation)
or of a case, or their conversation linked to an existing one.

Every email of the conversation the user may read is linked to the opportunity (reason
``converted``), so its chatter holds the whole history: the thread of the emails
(In-Reply-To and References, answers and answered, from the conversation's
participants) and the emails of their cases.
"""

from collections import defaultdict
from email.utils import getaddresses

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import clean_context

from ..lib.addresses import address_forms, is_own_address, normalize_address

# The conversation walk follows one more reply per round, in both directions.
MAX_ROUNDS = 100


class CrmMailLeadWizard(models.TransientModel):
    _name = "crm.mail.lead.wizard"
    _description = "Create or Link an Opportunity from Emails or a Case"

    email_ids = fields.Many2many("crm.mail.email")
    case_id = fields.Many2one("crm.mail.case")
    mode = fields.Selection(
        [("create", "Create a new opportunity"), ("link", "Link to an existing opportunity")],
        string="Action",
        required=True,
        default="create",
    )
    lead_type = fields.Selection(
        [("lead", "Lead"), ("opportunity", "Opportunity")],
        string="Create As",
        required=True,
        default=lambda self: self._default_lead_type(),
    )
    lead_id = fields.Many2one(
        "crm.lead",
        string="Opportunity",
        help="The existing lead or opportunity the conversation goes on in.",
    )
    conversation_count = fields.Integer(
        compute="_compute_conversation_count",
        string="Conversations",
        help="One opportunity is created per conversation among the selected emails.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        model = self.env.context.get("active_model")
        active_ids = self.env.context.get("active_ids") or []
        if "email_ids" in fields_list and not values.get("email_ids") and not values.get("case_id"):
            if model == "crm.mail.email" and active_ids:
                values["email_ids"] = [Command.set(active_ids)]
        if "case_id" in fields_list and not values.get("case_id") and not values.get("email_ids"):
            if model == "crm.mail.case" and active_ids:
                values["case_id"] = active_ids[0]
        if values.get("case_id") and "lead_type" in fields_list:
            # A case is a qualified conversation: it goes on as an opportunity.
            values["lead_type"] = "opportunity"
        return values

    @api.model
    def _default_lead_type(self):
        """Odoo's own default: a lead when the user works with leads, else an opportunity."""
        return "lead" if self.env.user.has_group("crm.group_use_lead") else "opportunity"

    @api.depends("email_ids", "case_id")
    def _compute_conversation_count(self):
        for wizard in self:
            emails = wizard.email_ids._origin
            if wizard.case_id or not emails:
                wizard.conversation_count = 1 if wizard.case_id else 0
                continue
            readable = emails._filtered_access("read")
            wizard.conversation_count = len(self._group_by_conversation(readable))

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def action_create(self):
        """Button: a new lead or opportunity per conversation of the emails, or of the
        case; open it (them)."""
        self.ensure_one()
        self._check_lead_access()
        if self.case_id:
            leads = self._convert_case(self.case_id)
        else:
            leads = self._create_from_emails(self._selected_emails())
        return self._open_leads(leads)

    def action_link(self):
        """Button: link the conversation of the emails, or the case, to an existing lead
        or opportunity; open it."""
        self.ensure_one()
        lead = self.lead_id
        if not lead:
            raise UserError(self.env._("Choose the opportunity to link to."))
        # Its chatter gains entries and, for a case, a note: the user must be allowed
        # to change it.
        lead.check_access("write")
        if self.case_id:
            self._convert_case(self.case_id, lead)
        else:
            emails = self._selected_emails()
            self._link_to_lead(lead, self._conversation_emails(emails))
        return self._open_leads(lead)

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def _check_lead_access(self):
        """Creating leads is a salesperson's right (Sales / User): refused clearly."""
        self.env["crm.lead"].check_access("create")

    def _selected_emails(self):
        # sudo: the wizard's own selection, unfiltered (reading it as the user would
        # drop silently the emails the user may not read).
        emails = self.sudo().email_ids.with_env(self.env)
        if not emails:
            raise UserError(self.env._("Select the emails to create opportunities from."))
        # The record rules decide: an email the user may not read is refused.
        emails.check_access("read")
        return emails

    def _create_from_emails(self, emails):
        """One lead per conversation among ``emails``, each linked to the rest of it."""
        leads = self.env["crm.lead"]
        for group in self._group_by_conversation(emails):
            lead = self._create_lead(self._prepare_lead_values(group[0]))
            self._link_to_lead(lead, self._conversation_emails(group))
            self._link_archive(lead)
            leads |= lead
        return leads

    def _convert_case(self, case, lead=None):
        """Convert ``case`` into ``lead``, or into a new opportunity: its emails are
        linked to it, both chatters say so, and the case is closed as converted."""
        case.check_access("write")
        if case.lead_id:
            raise UserError(
                self.env._(
                    "Case %(case)s was converted to %(lead)s already.",
                    case=case.name,
                    lead=case.lead_id.sudo().display_name,
                )
            )
        # sudo: which emails the case holds; the user's own rules filter them below.
        emails = case.sudo().email_ids
        created = not lead
        if created:
            first = emails.with_env(self.env)._filtered_access("read")[-1:]
            lead = self._create_lead(self._prepare_lead_values(first, case=case))
        self._link_to_lead(lead, self._conversation_emails(emails))
        case._close_as_converted(lead)
        self._post_conversion_notes(case, lead, created)
        if created:
            self._link_archive(lead)
        return lead

    def _create_lead(self, values):
        # Without the wizard's defaults (default_case_id...), which are not the lead's;
        # the archive is linked once the conversation is (_link_archive).
        env = self.env(context=clean_context(self.env.context))
        lead = env["crm.lead"].with_context(crm_mail_sync_no_archive_link=True).create(values)
        return lead.with_env(env)

    def _prepare_lead_values(self, email, case=None):
        """Hook: the ``create`` values of the lead made from ``email`` (the first
        selected email of its conversation), or from ``case`` (``email`` is then its
        first email, or empty).

        Name: the subject. Customer: the case's, else the contact of the sender (of
        the first external recipient for mail we sent), else the sender's name and
        address without creating a contact, as Odoo's mail gateway does. Team: the
        case's, else the group mailbox's, else the user's default. Salesperson: the
        case's assignee when a salesperson, else the current user.
        """
        name, address = self._lead_contact(email)
        partner = case.partner_id if case else self.env["res.partner"]
        if not partner and address:
            partner = self._lead_partner(email, address)
        team = case.team_id if case else self._lead_team(email)
        values = {
            "name": (case.subject if case else email.subject) or self.env._("(no subject)"),
            "type": self._lead_type(),
            "user_id": self._lead_user(case).id,
            **self.env["crm.lead"]._crm_mail_customer_values(partner, name, address),
        }
        if team:
            values["team_id"] = team.id
        return values

    @api.model
    def _lead_user(self, case=None):
        """Hook: the salesperson: the case's assignee when a salesperson, else the user."""
        user = case.user_id if case else self.env["res.users"]
        if user and user.active and user.has_group("sales_team.group_sale_salesman"):
            return user
        return self.env.user

    @api.model
    def _lead_team(self, email):
        """Hook: the sales team of the lead made from ``email``: its own (the teams of
        the group mailbox it came into), else its group mailbox's (mail we sent has no
        team), else none (the salesperson's default)."""
        # sudo: the teams of the mailbox, which the user may not read.
        email = email.sudo()
        if not email:
            return self.env["crm.team"]
        groups = email.account_ids.filtered(lambda account: account.account_type == "group")
        return (email.team_ids or groups.team_ids)[:1].with_env(self.env)

    def _lead_type(self):
        if self.env.user.has_group("crm.group_use_lead"):
            return self.lead_type or self._default_lead_type()
        return "opportunity"

    @api.model
    def _lead_contact(self, email):
        """Hook: ``(name, address)`` of the customer of ``email``: its sender, or for
        mail we sent, its first recipient that is not one of our mailboxes."""
        if not email:
            return "", ""
        if email.direction == "outgoing":
            # sudo: which addresses are our mailboxes', whoever may read them.
            own = email.sudo().account_ids._own_addresses()
            pairs = getaddresses([email.email_to or "", email.email_cc or ""])
            for name, raw in pairs:
                address = normalize_address(raw)
                if address and not is_own_address(address, own):
                    return name.strip() or address, address
            return "", ""
        return email._sender_name_and_address()

    @api.model
    def _lead_partner(self, email, address):
        """Hook: the existing contact of ``address`` (never created here): the one the
        email is linked to when it is one of them, else the first found."""
        contacts = self.env["res.partner"]._crm_mail_match_contacts({address}).get(address)
        if not contacts:
            return self.env["res.partner"]
        if email and email.partner_id in contacts:
            return email.partner_id
        return contacts.sorted("id")[:1]

    @api.model
    def _link_to_lead(self, lead, emails):
        """Hook: link ``emails`` to ``lead``: they show in its chatter."""
        target = {(lead._name, lead.id): "converted"}
        return self.env["crm.mail.linking"]._create_links(
            emails, {email.id: target for email in emails}, notify=False
        )

    @api.model
    def _link_archive(self, lead):
        """Hook: a new lead gains its customer's address, and like any lead that does,
        the archive's other emails of that address (reason "address"). Called once its
        conversation is linked, so that those emails keep the reason "converted"."""
        lead._crm_mail_link_archive()

    @api.model
    def _post_conversion_notes(self, case, lead, created):
        """Hook: a note on the case and one on the lead, so that each history tells."""
        env = self.env(context=clean_context(self.env.context))
        case, lead = case.with_env(env), lead.with_env(env)
        case.message_post(
            body=self.env._("Converted to opportunity %(lead)s", lead=lead._get_html_link()),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        link = case._get_html_link(title=case.name)
        if created:
            body = self.env._("Created from case %(case)s", case=link)
        else:
            body = self.env._("Case %(case)s converted to this opportunity", case=link)
        lead.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")

    def _open_leads(self, leads):
        if len(leads) == 1:
            return {
                "type": "ir.actions.act_window",
                "res_model": "crm.lead",
                "res_id": leads.id,
                "view_mode": "form",
                "views": [(False, "form")],
                "target": "current",
            }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Opportunities"),
            "res_model": "crm.lead",
            "domain": [("id", "in", leads.ids)],
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "target": "current",
        }

    # ------------------------------------------------------------------
    # Conversations
    # ------------------------------------------------------------------

    @api.model
    def _conversation_emails(self, emails):
        """Hook: the emails to link with ``emails``: themselves and the rest of their
        conversations (``_conversation_graph``) that the user may read, but for the
        emails a filter or an excluded domain keeps unlinked."""
        found, _pairs = self._conversation_graph(emails)
        others = (found - emails.sudo()).filtered(lambda email: not email.no_link)
        # The user's record rules decide: mail the user may not read is never linked.
        return (emails.sudo() | others).with_env(self.env)._filtered_access("read")

    @api.model
    def _group_by_conversation(self, emails):
        """``emails`` grouped by conversation, each group oldest first, the groups in
        the order of their first email."""
        found, pairs = self._conversation_graph(emails)
        root = {email_id: email_id for email_id in found.ids}

        def find(email_id):
            while root[email_id] != email_id:
                root[email_id] = root[root[email_id]]
                email_id = root[email_id]
            return email_id

        for first, second in pairs:
            root[find(first)] = find(second)
        groups = defaultdict(lambda: emails.browse())
        for email in emails.sorted(
            lambda email: (email.sudo().date or fields.Datetime.now(), email.id)
        ):
            groups[find(email.id)] |= email
        return list(groups.values())

    @api.model
    def _conversation_graph(self, emails):
        """Walk the conversations of ``emails`` (as superuser: the caller filters).

        Thread first: the emails a conversation email answers (In-Reply-To,
        References) and those answering it (In-Reply-To), each pair when the reply's
        sender takes part in the email it answers (``_joins_conversation``), as the
        linking and the cases do; then the emails of their cases.

        :return: ``(emails found, pairs of email ids of the same conversation)``
        """
        Email = self.env["crm.mail.email"].sudo()
        known = emails.sudo()
        pairs = []
        frontier = known
        for _round in range(MAX_ROUNDS):
            if not frontier:
                break
            found = Email
            refs = {email: email._thread_references() for email in frontier}
            wanted = {ref for found_refs in refs.values() for ref in found_refs}
            by_message_id = defaultdict(list)
            if wanted:
                for parent in Email.search([("message_id", "in", list(wanted))]):
                    by_message_id[parent.message_id].append(parent)
            for child, child_refs in refs.items():
                for ref in child_refs:
                    for parent in by_message_id.get(ref, ()):
                        if self._joins_conversation(parent, child):
                            pairs.append((parent.id, child.id))
                            found |= parent
            parents = defaultdict(list)
            for email in frontier:
                parents[email.message_id].append(email)
            for child in Email.search([("in_reply_to", "in", list(parents))]):
                for parent in parents[child.in_reply_to]:
                    if self._joins_conversation(parent, child):
                        pairs.append((parent.id, child.id))
                        found |= child
            for case in frontier.case_id:
                members = case.email_ids
                first = members[:1]
                pairs.extend((first.id, other.id) for other in members[1:])
                found |= members
            frontier = found - known
            known |= found
        return known, pairs

    @api.model
    def _joins_conversation(self, parent, child):
        """Hook: whether ``child``, answering ``parent``, is of its conversation: its
        sender is among ``parent``'s sender and recipients (a stranger quoting a
        Message-ID starts a conversation of their own)."""
        if not child.from_address:
            return False
        return bool(set(address_forms(child.from_address)) & parent._addresses())
