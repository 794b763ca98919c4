# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Email-to-lead: a group mailbox whose 'New Conversations' is 'Lead / Opportunity'
opens a lead for the first email of each new conversation, assigned by Odoo's
rule-based assignment or by the add-on's distributions; the conversation's later emails
join it. Real Dovecot, mail synced as "Fetch now" does."""

import importlib.util

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools.misc import file_path

from .common import CrmMailSyncCase

SALES = "sales_team.group_sale_salesman"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestEmailToLead(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sellers = cls.env["res.users"]
        for index in range(3):
            cls.sellers |= new_test_user(
                cls.env,
                login=f"lead_seller{index}",
                email=f"seller{index}@ourcompany.example",
                groups=f"base.group_user,crm_mail_sync.group_crm_mail_team,{SALES}",
            )
        cls.team = cls.env["crm.team"].create(
            {
                "name": "Direct Sales",
                "member_ids": [Command.set(cls.sellers.ids)],
                "company_id": cls.env.company.id,
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carla Customer", "email": "carla@customer.example"}
        )
        cls.Lead = cls.env["crm.lead"]
        # The CRM works with leads (its setting 'Leads'), and assigns them by rules.
        cls.env.ref("base.group_user").implied_ids = [
            Command.link(cls.env.ref("crm.group_use_lead").id)
        ]
        cls.env["ir.config_parameter"].set_param("crm.lead.auto.assignment", True)

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("sales")
        self.account = self.create_account(
            self.login,
            password,
            conversation_action="lead",
            team_ids=[Command.set(self.team.ids)],
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def deliver(self, *raws, account=None):
        """Put messages into the mailbox's INBOX on the real server and sync it."""
        for raw in raws:
            self.dovecot.append(self.login, "INBOX", raw)
        self.sync(account or self.account)

    def mail(self, subject, sender="Carla Customer <carla@customer.example>", **kw):
        kw.setdefault("to", self.account.email)
        return self.message(subject=subject, sender=sender, **kw)

    def email(self, subject):
        return self.Email.search([("subject", "=", subject)], order="id desc", limit=1)

    def leads(self):
        return self.Lead.with_context(active_test=False).search([("team_id", "=", self.team.id)])

    def lead_of(self, email):
        """The leads of ``email``'s conversation (not those of its addresses)."""
        links = email.link_ids.filtered(
            lambda link: link.res_model == "crm.lead" and link.reason != "address"
        )
        return self.Lead.browse(links.mapped("res_id"))

    def reason(self, email, lead):
        link = email.link_ids.filtered(
            lambda link: (link.res_model, link.res_id) == ("crm.lead", lead.id)
        )
        return link.reason

    def membership(self, user):
        return self.team.crm_team_member_ids.filtered(lambda member: member.user_id == user)

    # ------------------------------------------------------------------
    # Opening and assigning
    # ------------------------------------------------------------------

    def test_first_email_opens_a_lead_assigned_by_the_team_rules(self):
        no_capacity, bigcorp, others = self.sellers
        self.membership(no_capacity).assignment_max = 0
        # 30 a month: one lead a day; 60: two.
        self.membership(bigcorp).write(
            {"assignment_max": 30, "assignment_domain": "[('email_from', 'ilike', 'bigcorp')]"}
        )
        self.membership(others).write(
            {
                "assignment_max": 60,
                "assignment_domain": "[('email_from', 'not ilike', 'bigcorp')]",
            }
        )
        # Only the leads of the import are assigned, not the team's waiting ones.
        waiting_before = self.Lead.create(
            {"name": "Waiting already", "type": "lead", "team_id": self.team.id, "user_id": False}
        )
        self.deliver(self.mail("Quote for 40 chairs"))
        first = self.email("Quote for 40 chairs")
        lead = self.lead_of(first)
        self.assertEqual(len(lead), 1)
        self.assertEqual(lead.name, "Quote for 40 chairs")
        self.assertEqual(lead.type, "lead")
        self.assertEqual(lead.partner_id, self.customer)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.company_id, self.team.company_id)
        self.assertEqual(lead.medium_id, self.env.ref("utm.utm_medium_email"))
        self.assertEqual(lead.user_id, others)
        self.assertEqual(self.reason(first, lead), "created")
        self.assertTrue(self.chatter_entries(lead, first))
        self.assertFalse(first.case_id)

        # An unknown sender: the lead keeps the name and address; run by an Emails
        # administrator without Sales rights, as "Fetch now".
        self.dovecot.append(
            self.login,
            "INBOX",
            self.mail("Office fit-out", sender="Bob Buyer <bob@bigcorp.example>"),
        )
        self.Account.with_user(self.mail_admin).browse(self.account.id).action_sync()
        bob_lead = self.lead_of(self.email("Office fit-out"))
        self.assertFalse(bob_lead.partner_id)
        self.assertEqual(bob_lead.email_from, "Bob Buyer <bob@bigcorp.example>")
        self.assertEqual(bob_lead.contact_name, "Bob Buyer")
        self.assertEqual(bob_lead.user_id, bigcorp)

        # The capacities count the day's leads: one left for 'others', none for 'bigcorp'.
        self.deliver(self.mail("Second request", sender="dan@customer.example"))
        self.assertEqual(self.lead_of(self.email("Second request")).user_id, others)
        self.deliver(
            self.mail("Third request", sender="erin@customer.example"),
            self.mail("More desks", sender="bob@bigcorp.example"),
        )
        for subject in ("Third request", "More desks"):
            waiting = self.lead_of(self.email(subject))
            self.assertTrue(waiting, subject)
            self.assertFalse(waiting.user_id, subject)
            self.assertEqual(waiting.team_id, self.team, subject)
        self.assertNotIn(no_capacity, self.leads().user_id)
        self.assertEqual(len(self.leads() - waiting_before), 5)
        self.assertFalse(waiting_before.user_id)

    def test_rule_assignment_off_leaves_the_lead_in_the_team(self):
        self.env["ir.config_parameter"].set_param("crm.lead.auto.assignment", False)
        self.deliver(self.mail("No rules"))
        lead = self.lead_of(self.email("No rules"))
        self.assertEqual(lead.team_id, self.team)
        self.assertFalse(lead.user_id)

    def test_opportunities_without_the_leads_setting(self):
        self.env.ref("base.group_user").implied_ids = [
            Command.unlink(self.env.ref("crm.group_use_lead").id)
        ]
        self.assertFalse(self.account.crm_use_leads)
        self.deliver(self.mail("Straight to the pipeline"))
        self.assertEqual(self.lead_of(self.email("Straight to the pipeline")).type, "opportunity")

    def test_addon_distributions(self):
        first, second, third = self.sellers.sorted("id")
        self.account.lead_assignment = "round_robin"
        assigned = []
        for index in range(4):
            self.deliver(self.mail(f"RR {index}", sender=f"rr{index}@customer.example"))
            assigned.append(self.lead_of(self.email(f"RR {index}")).user_id)
        self.assertEqual(assigned, [first, second, third, first])
        self.assertEqual(self.account.last_assigned_user_id, first)

        # Least busy: open leads and opportunities count, won ones do not.
        self.account.lead_assignment = "least_busy"
        won = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        self.Lead.create(
            [
                {"name": "won", "user_id": second.id, "team_id": self.team.id, "stage_id": won.id},
                {
                    "name": "won too",
                    "user_id": second.id,
                    "team_id": self.team.id,
                    "stage_id": won.id,
                },
                {"name": "open", "user_id": third.id, "team_id": self.team.id},
            ]
        )
        self.deliver(self.mail("LB", sender="lb@customer.example"))
        self.assertEqual(self.lead_of(self.email("LB")).user_id, second)

        # Direct: the chosen salesperson, even from another team; the lead stays in
        # the mailbox's team, and no turn is taken.
        outsider = new_test_user(self.env, login="lead_outsider", groups=f"base.group_user,{SALES}")
        self.env["crm.team"].create(
            {"name": "Elsewhere", "member_ids": [Command.set(outsider.ids)]}
        )
        self.account.write({"lead_assignment": "direct", "lead_user_id": outsider.id})
        turn = self.account.last_assigned_user_id
        self.deliver(self.mail("Direct", sender="direct@customer.example"))
        lead = self.lead_of(self.email("Direct"))
        self.assertEqual(lead.user_id, outsider)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(self.account.last_assigned_user_id, turn)

    def test_direct_assignment_needs_an_internal_salesperson(self):
        with self.assertRaisesRegex(ValidationError, "choose the salesperson"):
            self.account.lead_assignment = "direct"
        portal = new_test_user(self.env, login="lead_portal", groups="base.group_portal")
        with self.assertRaisesRegex(ValidationError, "must be an internal user"):
            self.account.write({"lead_assignment": "direct", "lead_user_id": portal.id})

    def test_opted_out_salesperson_gets_no_lead(self):
        first, second, third = self.sellers.sorted("id")
        self.membership(second).assignment_optout = True
        self.account.lead_assignment = "round_robin"
        assigned = []
        for index in range(3):
            self.deliver(self.mail(f"Opt-out {index}", sender=f"o{index}@customer.example"))
            assigned.append(self.lead_of(self.email(f"Opt-out {index}")).user_id)
        self.assertEqual(assigned, [first, third, first])

    # ------------------------------------------------------------------
    # The conversation goes on
    # ------------------------------------------------------------------

    def test_reply_joins_the_lead_and_its_followers_hear_of_it(self):
        self.deliver(self.mail("Bulk order", message_id="<bulk-1@customer.example>"))
        first = self.email("Bulk order")
        lead = self.lead_of(first)
        follower = new_test_user(
            self.env,
            login="lead_follower",
            email="lead.follower@ourcompany.example",
            groups=f"base.group_user,crm_mail_sync.group_crm_mail_all,{SALES}",
            notification_type="inbox",
        )
        lead.message_subscribe(partner_ids=follower.partner_id.ids)
        before = self.Lead.search_count([])
        self.deliver(
            self.mail(
                "Re: Bulk order",
                message_id="<bulk-2@customer.example>",
                extra_headers=["In-Reply-To: <bulk-1@customer.example>"],
            )
        )
        reply = self.email("Re: Bulk order")
        self.assertEqual(self.lead_of(reply), lead)
        self.assertEqual(self.reason(reply, lead), "thread")
        self.assertEqual(self.Lead.search_count([]), before)
        entry = self.chatter_entries(lead, reply)
        self.assertTrue(entry)
        self.assertIn(follower.partner_id, entry.notification_ids.res_partner_id)
        # The first email was the lead's history: nobody was told of it.
        self.assertFalse(self.chatter_entries(lead, first).notification_ids)

        # A new conversation of the same customer is a new request: a lead of its own,
        # while the open one shows it too (its customer's mail).
        self.deliver(self.mail("Another topic"))
        other = self.email("Another topic")
        new_lead = self.lead_of(other) - lead
        self.assertEqual(len(new_lead), 1)
        self.assertEqual(self.reason(other, new_lead), "created")
        self.assertEqual(self.reason(other, lead), "address")

    def test_first_email_and_its_reply_in_one_batch_make_one_lead(self):
        self.deliver(
            self.mail("Together", message_id="<tog-1@customer.example>"),
            self.mail(
                "Re: Together",
                message_id="<tog-2@customer.example>",
                extra_headers=["In-Reply-To: <tog-1@customer.example>"],
            ),
        )
        first, reply = self.email("Together"), self.email("Re: Together")
        lead = self.lead_of(first)
        self.assertEqual(len(lead), 1)
        self.assertEqual(self.lead_of(reply), lead)
        self.assertEqual(self.reason(first, lead), "created")
        self.assertEqual(self.reason(reply, lead), "thread")
        self.assertEqual(self.Lead.search_count([("name", "ilike", "Together")]), 1)

    # ------------------------------------------------------------------
    # What never opens a lead
    # ------------------------------------------------------------------

    def test_automatic_own_and_outgoing_mail_open_no_lead(self):
        other_login, other_password = self.new_mailbox("support")
        support = self.create_account(other_login, other_password)
        before = self.Lead.search_count([])
        self.deliver(
            self.mail("Out of office", extra_headers=["Auto-Submitted: auto-replied"]),
            self.mail("Weekly digest", extra_headers=["List-Id: <digest.customer.example>"]),
            self.mail("Delivery failure", sender="MAILER-DAEMON@customer.example"),
            self.mail("From our support", sender=support.email),
            self.mail("Our own mail", sender=self.account.email, to="carla@customer.example"),
        )
        self.assertEqual(self.Lead.search_count([]), before)
        emails = self.emails_of(self.account)
        self.assertEqual(len(emails), 5)
        self.assertFalse(emails.link_ids.filtered(lambda link: link.reason == "created"))
        self.assertTrue(self.email("Out of office").is_auto_submitted)
        self.assertEqual(self.email("Our own mail").direction, "outgoing")

    def test_archive_mail_opens_leads_only_when_asked(self):
        self.dovecot.append(
            self.login, "INBOX", self.mail("Old thread"), internal_date=self.days_ago(5)
        )
        self.sync(self.account)
        old = self.email("Old thread")
        self.assertEqual(old.import_mode, "archive")
        self.assertFalse(old.link_ids.filtered(lambda link: link.reason == "created"))
        self.account.archive_create_cases = True
        self.dovecot.append(
            self.login, "INBOX", self.mail("Old open"), internal_date=self.days_ago(5)
        )
        self.sync(self.account)
        self.assertEqual(
            self.reason(self.email("Old open"), self.lead_of(self.email("Old open"))), "created"
        )

    def test_nothing_and_case_mailboxes_open_no_lead(self):
        self.account.conversation_action = "none"
        before = self.Lead.search_count([])
        self.deliver(self.mail("Nothing to open"))
        email = self.email("Nothing to open")
        self.assertFalse(email.case_id)
        self.assertEqual(self.Lead.search_count([]), before)
        self.account.conversation_action = "case"
        self.deliver(self.mail("A case, not a lead"))
        email = self.email("A case, not a lead")
        self.assertTrue(email.case_id)
        self.assertEqual(self.Lead.search_count([]), before)

    # ------------------------------------------------------------------
    # The former checkbox
    # ------------------------------------------------------------------

    def test_create_cases_follows_the_mailbox_action(self):
        login, password = self.new_mailbox("compat")
        account = self.create_account(login, password, create_cases=True)
        self.assertEqual(account.conversation_action, "case")
        self.assertIn(account, self.Account.search([("create_cases", "=", True)]))
        account.create_cases = False
        self.assertEqual(account.conversation_action, "none")
        account.conversation_action = "lead"
        self.assertFalse(account.create_cases)
        account.create_cases = False  # a lead mailbox stays one
        self.assertEqual(account.conversation_action, "lead")
        account.conversation_action = "case"
        self.assertTrue(account.create_cases)

    def test_migration_keeps_case_mailboxes_opening_cases(self):
        logins = [self.new_mailbox(f"mig{index}") for index in range(2)]
        cases, plain = (self.create_account(*login) for login in logins)
        self.env.flush_all()
        # As a database of the previous version: no column yet, the checkbox held.
        self.env.cr.execute("ALTER TABLE crm_mail_account DROP COLUMN conversation_action")
        self.env.cr.execute(
            "UPDATE crm_mail_account SET create_cases = (id = %s) WHERE id IN %s",
            (cases.id, (cases.id, plain.id)),
        )
        path = file_path("crm_mail_sync/migrations/18.0.1.3.0/pre-migration.py")
        spec = importlib.util.spec_from_file_location("crm_mail_sync_pre_18_0_1_3_0", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.2.0")
        self.env.invalidate_all()
        self.assertEqual(cases.conversation_action, "case")
        self.assertTrue(cases.create_cases)
        self.assertEqual(plain.conversation_action, "none")
