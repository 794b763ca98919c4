# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The demo data tells its story: its contacts and opportunities are those of the
demo mail (tests/mail_corpus.py ``demo_mailboxes``, seeded by scripts/demo_mailserver.py),
and that mail links to them and gives its cases customers. No mail server: the demo
mail goes straight through the import chain."""

from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from odoo.tests import tagged

from . import mail_corpus
from .common import CrmMailUnitCase


def _sender(raw):
    return getaddresses([BytesHeaderParser().parsebytes(raw)["From"]])[0][1].lower()


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestDemoData(CrmMailUnitCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.now = datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)  # a Wednesday
        cls.mailboxes = mail_corpus.demo_mailboxes(cls.now)
        # demo/res_partner_demo.xml and demo/crm_lead_demo.xml
        cls.partners = cls.demo_records("res.partner", "demo_partner_")
        cls.leads = cls.demo_records("crm.lead", "demo_lead_")
        cls.people = cls.partners.filtered(lambda partner: not partner.is_company)

    @classmethod
    def demo_records(cls, model, prefix):
        data = cls.env["ir.model.data"].search(
            [
                ("module", "=", "crm_mail_sync"),
                ("model", "=", model),
                ("name", "=like", f"{prefix}%"),
            ]
        )
        return cls.env[model].browse(data.mapped("res_id"))

    def box(self, login, folder="INBOX"):
        """The demo mail of a mailbox's folder: [(raw, received)]."""
        return [
            item
            for box_login, box_folder, _seen, messages in self.mailboxes
            if (box_login, box_folder) == (login, folder)
            for item in messages
        ]

    def senders(self, login, folder="INBOX"):
        return {_sender(raw) for raw, _received in self.box(login, folder)}

    def test_contacts_are_senders_of_the_demo_mail(self):
        self.assertEqual(
            set(self.people.mapped("email_normalized")),
            {address for _name, address in mail_corpus.DEMO_CONTACTS},
        )
        self.assertGreaterEqual(len(self.partners.filtered("is_company")), 3)
        self.assertTrue(self.people.filtered("parent_id.is_company"))
        for login in ("support", "sales", "marc"):
            senders = self.senders(login)
            # Part of the senders, not all: strangers write too.
            self.assertLess(set(self.people.mapped("email_normalized")) & senders, senders)
            self.assertGreaterEqual(
                len(set(self.people.mapped("email_normalized")) & senders), 5, login
            )

    def test_open_leads_in_several_stages_match_the_demo_mail(self):
        self.assertGreaterEqual(len(self.leads), 3)
        self.assertFalse(self.leads.filtered("stage_id.is_won"))
        self.assertGreaterEqual(len(self.leads.stage_id), 2)
        senders = self.senders("support") | self.senders("marc")
        for lead in self.leads:
            self.assertIn(lead.email_normalized, senders, lead.name)

    def test_demo_mail_links_to_contacts_leads_and_gives_cases_customers(self):
        account = self.local_account(
            "demosupport",
            create_cases=True,
            archive_create_cases=True,
            team_ids=[(4, self.env.ref("crm_mail_sync.demo_team_support").id)],
        )
        raws = [raw for raw, _received in self.box("support")[:60]]
        self.import_raw(account.folder_ids, raws)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 60)
        known = emails.filtered(lambda email: email.from_address in self.people.mapped("email"))
        self.assertTrue(known)
        self.assertLess(len(known), len(emails))
        for email in known:
            contact = self.people.filtered(lambda p, e=email: p.email == e.from_address)
            links = {(link.res_model, link.res_id) for link in email.link_ids}
            self.assertIn(("res.partner", contact.id), links)
            if contact.parent_id:
                self.assertIn(("res.partner", contact.parent_id.id), links)
            for lead in self.leads.filtered(lambda lead, c=contact: lead.partner_id == c):
                self.assertIn(("crm.lead", lead.id), links)
            self.assertEqual(email.case_id.partner_id, contact)
        self.assertTrue(self.leads.filtered("crm_mail_email_count"))
        self.assertFalse((emails - known).case_id.partner_id)

    def test_recent_mail_is_live_and_one_email_waits_for_a_reply(self):
        support = self.env.ref("crm_mail_sync.demo_account_support")
        live_since = self.now - timedelta(hours=support.live_window_hours)
        inbox, sent = self.box("support"), self.box("support", "Sent")
        live = [raw for raw, received in inbox if received >= live_since]
        self.assertTrue(0 < len(live) < 10, "a few live emails, the rest is archive mail")
        answered = set()
        for raw, received in sent:
            if received >= live_since:
                answered.add(BytesHeaderParser().parsebytes(raw)["In-Reply-To"])
        waiting = [
            raw
            for raw, received in inbox
            if received >= live_since
            and received < self.now - timedelta(days=3)
            and BytesHeaderParser().parsebytes(raw)["Message-ID"] not in answered
        ]
        # Three days hold at least one full working day, whatever the weekday: the
        # demo's reply alert (scripts/run-demo runs it after the first sync) fires.
        self.assertTrue(support.reply_alert)
        self.assertLessEqual(support.reply_alert_hours, 8)
        self.assertEqual(len(waiting), 1)
        self.assertIn(_sender(waiting[0]), self.people.mapped("email_normalized"))
        self.assertTrue(answered)
        sales = self.env.ref("crm_mail_sync.demo_account_sales")
        sales_live = [
            raw
            for raw, received in self.box("sales")
            if received >= self.now - timedelta(hours=sales.live_window_hours)
        ]
        # They become leads: sales@ opens one for a new conversation's live mail only.
        self.assertEqual(sales.conversation_action, "lead")
        self.assertFalse(sales.archive_create_cases)
        self.assertTrue(sales.team_ids)
        # Round-robin needs someone to go to: the Support team must not have taken
        # the demo users out of Sales (single membership would archive them there).
        self.assertEqual(sales.lead_assignment, "round_robin")
        self.assertTrue(sales._get_lead_team().crm_team_member_ids)
        self.assertGreaterEqual(len(sales_live), 2)
        self.assertTrue({_sender(raw) for raw in sales_live} - set(self.people.mapped("email")))
