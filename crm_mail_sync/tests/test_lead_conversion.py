# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Opportunities from mail: from an email (its whole conversation), from a selection
(one per conversation), from a case (converted and closed), or linked to an existing
one; only by salespeople, and only with mail they may read."""

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from . import mail_corpus
from .common import CrmMailSyncCase, admin_mailbox_with

SALES = "sales_team.group_sale_salesman"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestLeadConversion(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seller = new_test_user(
            cls.env,
            login="lead_seller",
            email="seller@ourcompany.example",
            # 'All': a team level does not show the mailbox's sent mail (no team).
            groups=f"base.group_user,crm_mail_sync.group_crm_mail_all,{SALES}",
        )
        cls.agent = new_test_user(
            cls.env,
            login="lead_agent_no_crm",
            email="agent@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        cls.own_seller = new_test_user(
            cls.env,
            login="lead_own_seller",
            email="own.seller@ourcompany.example",
            groups=f"base.group_user,crm_mail_sync.group_crm_mail_user,{SALES}",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Inside Sales", "member_ids": [Command.set((cls.seller | cls.agent).ids)]}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carla Customer", "email": "carla@customer.example"}
        )
        cls.Lead = cls.env["crm.lead"]

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("sales")
        self.account = self.create_account(
            self.login, password, team_ids=[Command.set(self.team.ids)]
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)
        self.address = self.account.email

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def deliver(self, *raws):
        """Put messages into the mailbox's INBOX on the real server and sync it."""
        for raw in raws:
            self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account)
        self.env.invalidate_all()

    def by_message_id(self, message_id):
        email = self.Email.search([("message_id", "=", message_id)])
        self.assertEqual(len(email), 1, message_id)
        return email

    def conversation(self, tag, customer="Carla Customer <carla@customer.example>", cc=None):
        """A customer's request, our answer (from the mailbox's address) and the
        customer's reply; return the three emails, oldest first."""
        first, answer, reply = (f"<{tag}-{n}@thread.example>" for n in (1, 2, 3))
        extra_cc = [f"Cc: {cc}"] if cc else []
        self.deliver(
            self.message(
                message_id=first,
                subject=f"Quote {tag}",
                sender=customer,
                to=self.address,
                date=self.days_ago(0.3),
                extra_headers=extra_cc,
            ),
            self.message(
                message_id=answer,
                subject=f"Re: Quote {tag}",
                sender=self.address,
                to=customer,
                date=self.days_ago(0.2),
                extra_headers=[f"In-Reply-To: {first}", f"References: {first}"],
            ),
            self.message(
                message_id=reply,
                subject=f"Re: Quote {tag}",
                sender=customer,
                to=self.address,
                date=self.days_ago(0.1),
                extra_headers=[
                    f"In-Reply-To: {answer}",
                    f"References: {first} {answer}",
                    *extra_cc,
                ],
            ),
        )
        return [self.by_message_id(mid) for mid in (first, answer, reply)]

    def wizard(self, user, **values):
        return self.env["crm.mail.lead.wizard"].with_user(user).create(values)

    def from_emails(self, user, emails, **values):
        action = emails.with_user(user).action_open_lead_wizard()
        self.assertEqual(action["res_model"], "crm.mail.lead.wizard")
        wizard = (
            self.env["crm.mail.lead.wizard"]
            .with_user(user)
            .with_context(**action["context"])
            .create(values)
        )
        self.assertEqual(wizard.email_ids, emails)
        return wizard

    def linked(self, record, reason=None):
        """The emails linked to ``record`` (with ``reason``), each with its chatter entry."""
        self.env.invalidate_all()
        links = self.env["crm.mail.email.link"].search(
            [("res_model", "=", record._name), ("res_id", "=", record.id)]
        )
        if reason:
            links = links.filtered(lambda link: link.reason == reason)
        for link in links:
            self.assertTrue(self.chatter_entries(record, link.email_id), link.email_id.subject)
        return links.email_id

    def notes(self, record):
        """The text of the notes on ``record`` (not the entries of emails)."""
        self.env.invalidate_all()
        notes = record.message_ids.filtered(
            lambda message: (
                message.subtype_id == self.env.ref("mail.mt_note") and not message.crm_mail_email_id
            )
        )
        return "\n".join(notes.mapped("body"))

    # ------------------------------------------------------------------
    # From emails
    # ------------------------------------------------------------------

    def test_opportunity_from_an_email_has_its_whole_conversation(self):
        first, answer, reply = self.conversation("chairs")
        stranger = self.message(
            subject="Re: Quote chairs",
            sender="mallory@attacker.example",
            to=self.address,
            extra_headers=[f"In-Reply-To: {first.message_id}"],
        )
        unrelated = self.message(subject="Other topic", sender="dave@elsewhere.example")
        self.deliver(stranger, unrelated)
        stranger = self.Email.search([("from_address", "=", "mallory@attacker.example")])
        unrelated = self.Email.search([("subject", "=", "Other topic")])
        self.assertTrue(stranger and unrelated)

        wizard = self.from_emails(self.seller, first)
        self.assertEqual(wizard.lead_type, "opportunity")  # leads are not enabled
        self.assertEqual(wizard.conversation_count, 1)
        action = wizard.action_create()
        lead = self.Lead.browse(action["res_id"])
        self.assertEqual(action["res_model"], "crm.lead")
        self.assertEqual(lead.name, "Quote chairs")
        self.assertEqual(lead.type, "opportunity")
        self.assertEqual(lead.partner_id, self.customer)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.seller)
        # The email and the rest of its conversation, in the lead's chatter; not a
        # stranger quoting its Message-ID, nor another email.
        self.assertEqual(self.linked(lead, "converted"), first | answer | reply)
        self.assertEqual(self.linked(lead), first | answer | reply)
        self.assertFalse(self.chatter_entries(lead, stranger))
        self.assertFalse(self.chatter_entries(lead, unrelated))
        self.assertEqual(lead.crm_mail_email_count, 3)

    def test_conversation_is_followed_both_ways_from_a_reply(self):
        first, answer, reply = self.conversation("desks")
        self.assertEqual(answer.direction, "outgoing")
        action = self.from_emails(self.seller, answer).action_create()
        lead = self.Lead.browse(action["res_id"])
        self.assertEqual(lead.name, "Re: Quote desks")
        # Mail we sent: the customer is its recipient; the team the mailbox's.
        self.assertEqual(lead.partner_id, self.customer)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(self.linked(lead, "converted"), first | answer | reply)

    def test_selection_makes_one_lead_per_conversation(self):
        chairs = self.conversation("chairs")
        lamps = self.conversation("lamps", customer="Dave Newman <dave@newco.example>")
        partners_before = self.env["res.partner"].search_count([])
        selection = chairs[0] | chairs[2] | lamps[1]
        wizard = self.from_emails(self.seller, selection)
        self.assertEqual(wizard.conversation_count, 2)
        action = wizard.action_create()
        leads = self.Lead.search(action["domain"])
        self.assertEqual(len(leads), 2)
        by_name = {lead.name: lead for lead in leads}
        self.assertEqual(set(by_name), {"Quote chairs", "Re: Quote lamps"})
        self.assertEqual(self.linked(by_name["Quote chairs"]), chairs[0] | chairs[1] | chairs[2])
        lamps_lead = by_name["Re: Quote lamps"]
        self.assertEqual(self.linked(lamps_lead), lamps[0] | lamps[1] | lamps[2])
        # No contact for Dave: the lead keeps his name and address, as Odoo's gateway.
        self.assertFalse(lamps_lead.partner_id)
        self.assertEqual(lamps_lead.contact_name, "Dave Newman")
        self.assertEqual(lamps_lead.email_normalized, "dave@newco.example")
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before)

    def test_lead_type_is_offered_to_users_of_leads(self):
        first, _answer, _reply = self.conversation("tables")
        self.seller.groups_id = [Command.link(self.env.ref("crm.group_use_lead").id)]
        wizard = self.from_emails(self.seller, first)
        self.assertEqual(wizard.lead_type, "lead")
        lead = self.Lead.browse(wizard.action_create()["res_id"])
        self.assertEqual(lead.type, "lead")
        second = self.conversation("sofas")[0]
        wizard = self.from_emails(self.seller, second, lead_type="opportunity")
        lead = self.Lead.browse(wizard.action_create()["res_id"])
        self.assertEqual(lead.type, "opportunity")

    def test_link_a_conversation_to_an_existing_opportunity(self):
        first, answer, reply = self.conversation("beds")
        lead = self.Lead.with_user(self.seller).create(
            {"name": "Bedroom deal", "type": "opportunity", "user_id": self.seller.id}
        )
        wizard = self.from_emails(self.seller, reply, mode="link", lead_id=lead.id)
        action = wizard.action_link()
        self.assertEqual(action["res_id"], lead.id)
        self.assertEqual(self.linked(lead, "converted"), first | answer | reply)
        self.assertEqual(self.Lead.search_count([("name", "ilike", "Quote beds")]), 0)

    # ------------------------------------------------------------------
    # From cases
    # ------------------------------------------------------------------

    def case_mailbox(self, user=None):
        self.account.write(
            {
                "create_cases": True,
                "case_assignment": "direct",
                "case_user_id": (user or self.seller).id,
            }
        )

    def test_case_converted_to_an_opportunity(self):
        self.case_mailbox()
        first, answer, reply = self.conversation("support")
        case = first.case_id
        self.assertTrue(case)
        self.assertEqual(case.email_ids, first | answer | reply)
        self.assertEqual(case.user_id, self.seller)
        self.assertFalse(case.is_closed)

        wizard = self.wizard(self.seller, case_id=case.id)
        self.assertEqual(wizard.lead_type, "opportunity")
        action = case.with_user(self.seller).action_open_lead_wizard()
        self.assertEqual(action["context"], {"default_case_id": case.id})
        lead = self.Lead.browse(wizard.action_create()["res_id"])
        self.assertEqual(lead.name, case.subject)
        self.assertEqual(lead.type, "opportunity")
        self.assertEqual(lead.partner_id, self.customer)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.seller)
        self.assertEqual(self.linked(lead, "converted"), case.email_ids)
        # Both histories tell; the case is closed as converted and points at the lead.
        self.assertIn("Converted to opportunity <a", self.notes(case))
        self.assertIn(f">{lead.name}</a>", self.notes(case))
        self.assertIn("Created from case <a", self.notes(lead))
        self.assertIn(f">{case.name}</a>", self.notes(lead))
        self.assertTrue(case.is_closed)
        self.assertEqual(case.lead_id, lead)
        self.assertEqual(lead.crm_mail_case_ids, case)
        self.assertEqual(lead.crm_mail_case_count, 1)
        with self.assertRaises(UserError):  # once only
            self.wizard(self.seller, case_id=case.id).action_create()

        # The customer answers again: the reply joins the case and the opportunity,
        # and does not reopen the converted case.
        later = "<support-4@thread.example>"
        self.deliver(
            self.message(
                message_id=later,
                subject="Re: Quote support",
                sender="carla@customer.example",
                to=self.address,
                extra_headers=[f"In-Reply-To: {reply.message_id}"],
            )
        )
        later = self.by_message_id(later)
        self.assertEqual(later.case_id, case)
        self.assertTrue(self.chatter_entries(lead, later))
        self.assertTrue(case.is_closed)

    def test_case_assigned_to_a_non_salesperson_goes_to_the_converter(self):
        self.case_mailbox(user=self.agent)
        case = self.conversation("repair")[0].case_id
        self.assertEqual(case.user_id, self.agent)
        lead = self.Lead.browse(self.wizard(self.seller, case_id=case.id).action_create()["res_id"])
        self.assertEqual(lead.user_id, self.seller)

    def test_case_linked_to_an_existing_opportunity(self):
        self.case_mailbox()
        case = self.conversation("renewal")[0].case_id
        lead = self.Lead.with_user(self.seller).create(
            {"name": "Renewal 2027", "type": "opportunity", "user_id": self.seller.id}
        )
        wizard = self.wizard(self.seller, case_id=case.id, mode="link", lead_id=lead.id)
        self.assertEqual(wizard.action_link()["res_id"], lead.id)
        self.assertEqual(self.linked(lead, "converted"), case.email_ids)
        self.assertEqual(case.lead_id, lead)
        self.assertTrue(case.is_closed)
        self.assertIn(f">{lead.name}</a>", self.notes(case))
        self.assertIn(f">{case.name}</a> converted to this opportunity", self.notes(lead))
        self.assertEqual(self.Lead.search_count([("name", "=", case.subject)]), 0)

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    def test_own_level_converts_only_mail_it_may_read(self):
        # Carla copies the 'Own' user on her mail, not on our answer.
        first, answer, reply = self.conversation("private", cc=self.own_seller.email)
        readable = self.Email.with_user(self.own_seller).search(
            [("id", "in", (first | answer | reply).ids)]
        )
        self.assertEqual(readable, first | reply)
        lead = self.Lead.browse(self.from_emails(self.own_seller, first).action_create()["res_id"])
        self.assertEqual(lead.user_id, self.own_seller)
        # The conversation is followed through the answer, which the conversion does
        # not link (the lead's address may, as the sync does, by address).
        self.assertEqual(self.linked(lead, "converted"), first | reply)
        to_lead = answer.link_ids.filtered(
            lambda link: (link.res_model, link.res_id) == ("crm.lead", lead.id)
        )
        self.assertNotEqual(to_lead.reason, "converted")

        other = self.conversation("hidden", customer="Erin <erin@elsewhere.example>")[0]
        with self.assertRaises(AccessError):
            other.with_user(self.own_seller).action_open_lead_wizard()
        before = self.Lead.search_count([])
        with self.assertRaises(AccessError):
            self.wizard(self.own_seller, email_ids=[Command.set(other.ids)]).action_create()
        with self.assertRaises(AccessError):
            self.wizard(
                self.own_seller, email_ids=[Command.set(other.ids)], mode="link", lead_id=lead.id
            ).action_link()
        self.assertEqual(self.Lead.search_count([]), before)
        self.assertFalse(self.chatter_entries(lead, other))

    def test_user_without_sales_rights_is_refused(self):
        self.case_mailbox()
        first = self.conversation("nocrm")[0]
        case = first.case_id
        # The agent reads the email and the case (team level) but is no salesperson.
        self.assertTrue(first.with_user(self.agent).subject)
        self.assertTrue(case.with_user(self.agent).subject)
        before = self.Lead.search_count([])
        with self.assertRaises(AccessError):
            first.with_user(self.agent).action_open_lead_wizard()
        with self.assertRaises(AccessError):
            case.with_user(self.agent).action_open_lead_wizard()
        with self.assertRaises(AccessError):
            self.wizard(self.agent, email_ids=[Command.set(first.ids)]).action_create()
        with self.assertRaises(AccessError):
            self.wizard(self.agent, case_id=case.id).action_create()
        self.assertEqual(self.Lead.search_count([]), before)
        self.assertFalse(case.lead_id)
        self.assertFalse(case.is_closed)
        # Nor does the agent see the buttons.
        for model, view in (
            ("crm.mail.email", "crm_mail_sync.crm_mail_email_view_form"),
            ("crm.mail.email", "crm_mail_sync.crm_mail_email_view_list"),
            ("crm.mail.case", "crm_mail_sync.crm_mail_case_view_form"),
        ):
            view_id = self.env.ref(view).id
            agent_arch = self.env[model].with_user(self.agent).get_view(view_id)["arch"]
            seller_arch = self.env[model].with_user(self.seller).get_view(view_id)["arch"]
            self.assertNotIn("action_open_lead_wizard", agent_arch, view)
            self.assertIn("action_open_lead_wizard", seller_arch, view)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestLeadConversionTour(HttpCase):
    """Headless Chromium: an opportunity made from an email in the inbox."""

    def test_lead_tour(self):
        admin = self.env.ref("base.user_admin")
        admin_mailbox_with(
            self.env,
            "leadtour",
            mail_corpus.simple_message(
                subject="Tour request for a quote",
                sender="Erin Buyer <erin.buyer@prospect.example>",
                to=admin.email,
                body="We would need twelve licences from next month.",
            ),
        )
        email = self.env["crm.mail.email"].search([("subject", "=", "Tour request for a quote")])
        self.assertEqual(len(email), 1)

        self.start_tour(
            "/odoo/action-crm_mail_sync.crm_mail_email_action",
            "crm_mail_sync_lead_tour",
            login="admin",
            timeout=120,
        )

        lead = self.env["crm.lead"].search([("name", "=", "Tour request for a quote")])
        self.assertEqual(len(lead), 1)
        self.assertIn("erin.buyer@prospect.example", lead.email_from)
        self.assertIn(("crm.lead", lead.id), [(lk.res_model, lk.res_id) for lk in email.link_ids])
