# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Reply-time alerts: a customer's email in a case or lead that gets no answer within
the mailbox's working hours schedules one activity; an answer cancels it. Real
Dovecot and SMTP sink; the clock is the test's (``now`` given to the scheduled action)."""

from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from lxml import etree

from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from ..lib.working_hours import add_working_hours
from .common import CrmMailSyncCase

# A Friday, 16:00 UTC: one working hour left that day on a 9-to-5 calendar (8-12,
# 13-17); eight working hours later is the Monday at 16:00.
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0)
MONDAY_4PM = datetime(2026, 11, 30, 16, 0)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestReplyAlerts(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink, cls.smtp = cls.start_smtp_sink()
        cls.agent = new_test_user(
            cls.env,
            login="alert_agent",
            email="alert.agent@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        cls.leader = new_test_user(
            cls.env,
            login="alert_leader",
            email="alert.leader@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        cls.team = cls.env["crm.team"].create(
            {
                "name": "Alerted Support",
                "user_id": cls.leader.id,
                "member_ids": [(6, 0, cls.agent.ids)],
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Wanda Waiting", "email": "wanda@customer.example"}
        )
        # The company's working schedule, in UTC so that the hours read plainly.
        calendar = cls.env.company.resource_calendar_id
        calendar.tz = "UTC"
        cls.assertTrue(calendar, "the company has a working schedule")

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("alerts")
        self.account = self.create_account(
            self.login,
            password,
            create_cases=True,
            case_assignment="direct",
            case_user_id=self.agent.id,
            team_ids=[(6, 0, self.team.ids)],
            smtp_server_id=self.smtp.id,
            is_shared=True,
            send_permission="team",
            reply_alert=True,
            reply_alert_hours=8,
        )
        self.folders = self.connect(self.account)
        self.account.live_since = self.days_ago(1)
        self.Activity = self.env["mail.activity"]
        self.alert_type = self.env.ref("crm_mail_sync.mail_activity_type_reply_alert")

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def deliver(self, subject, date=FRIDAY_4PM, folder="INBOX", **kw):
        kw.setdefault("sender", "Wanda Waiting <wanda@customer.example>")
        kw.setdefault("to", self.account.email)
        self.dovecot.append(self.login, folder, self.message(subject=subject, date=date, **kw))
        self.sync(self.account)
        return self.Email.search([("subject", "=", subject)], order="id desc", limit=1)

    def alerts(self, record):
        return self.Activity.search(
            [
                ("activity_type_id", "=", self.alert_type.id),
                ("res_model", "=", record._name),
                ("res_id", "=", record.id),
            ]
        )

    def run_cron(self, now):
        return self.Email._cron_reply_alerts(now=now)

    def reply_from_case(self, case, user=None):
        """Send an answer with the composer from the case, through the mailbox."""
        composer = (
            self.env["mail.compose.message"]
            .with_user(user or self.agent)
            .create(
                {
                    "composition_mode": "comment",
                    "model": case._name,
                    "res_ids": str(case.ids),
                    "crm_mail_account_id": self.account.id,
                    "partner_ids": [(6, 0, self.customer.ids)],
                    "subject": f"Re: {case.subject}",
                    "body": "<p>Here is the answer.</p>",
                }
            )
        )
        # Odoo skips the SMTP conversation while a test runs: lift that guard only here.
        with patch("odoo.modules.module.current_test", None):
            composer.action_send_mail()
        self.assertEqual(len(self.sink.messages), 1, "the answer went out")

    # ------------------------------------------------------------------
    # Scheduling
    # ------------------------------------------------------------------

    def test_unanswered_email_schedules_one_activity_at_the_deadline(self):
        email = self.deliver("Where is my parcel?")
        case = email.case_id
        self.assertTrue(case)
        self.assertEqual(email.import_mode, "live")
        # Friday 16:00 + 8 working hours: Friday's last hour, then Monday 8-12, 13-16.
        self.assertEqual(email.reply_due_at, MONDAY_4PM)
        self.assertFalse(self.run_cron(MONDAY_4PM - timedelta(minutes=1)))
        self.assertFalse(self.alerts(case), "nothing before the deadline")
        self.assertFalse(email.is_reply_overdue)
        self.assertFalse(case.is_reply_overdue)

        self.run_cron(MONDAY_4PM)
        activity = self.alerts(case)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.agent, "the case's assignee")
        self.assertEqual(activity.date_deadline, MONDAY_4PM.date())
        self.assertIn("Wanda Waiting", activity.summary)
        self.assertIn("Where is my parcel?", activity.summary)
        self.assertTrue(email.is_reply_overdue)
        self.assertTrue(case.is_reply_overdue)
        # Later runs schedule no second one.
        self.run_cron(MONDAY_4PM + timedelta(hours=5))
        self.run_cron(MONDAY_4PM + timedelta(days=3))
        self.assertEqual(len(self.alerts(case)), 1)

    def test_overdue_shows_in_the_inbox_and_on_the_case_board(self):
        email = self.deliver("Still waiting")
        other = self.deliver("Just arrived", date=MONDAY_4PM - timedelta(hours=1))
        self.run_cron(MONDAY_4PM)
        # The inbox's "Reply Overdue" filter, as the search view defines it.
        inbox_filter = self._filter_domain("crm_mail_sync.crm_mail_email_view_search")
        found = self.Email.with_user(self.agent).search(inbox_filter)
        self.assertIn(email, found)
        self.assertNotIn(other, found)
        case_filter = self._filter_domain("crm_mail_sync.crm_mail_case_view_search")
        cases = self.env["crm.mail.case"].with_user(self.agent).search(case_filter)
        self.assertIn(email.case_id, cases)
        self.assertNotIn(other.case_id, cases)
        for xmlid in ("crm_mail_case_view_kanban", "crm_mail_case_view_list"):
            arch = self.env.ref(f"crm_mail_sync.{xmlid}").arch
            self.assertIn("is_reply_overdue", arch, xmlid)

    def _filter_domain(self, view_xmlid):
        arch = etree.fromstring(self.env.ref(view_xmlid).arch)
        (node,) = arch.xpath("//filter[@name='reply_overdue']")
        return safe_eval(node.get("domain"))

    def test_team_leader_when_unassigned(self):
        email = self.deliver("Nobody has this")
        case = email.case_id
        case.user_id = False
        self.run_cron(MONDAY_4PM)
        self.assertEqual(self.alerts(case).user_id, self.leader)

    def test_later_incoming_email_restarts_the_clock(self):
        first = self.deliver("Order 17", message_id="<order17@customer.example>")
        monday_10am = MONDAY_4PM - timedelta(hours=6)
        second = self.deliver(
            "Re: Order 17",
            date=monday_10am,
            extra_headers=["In-Reply-To: <order17@customer.example>"],
        )
        self.assertEqual(second.case_id, first.case_id)
        self.assertFalse(first.reply_due_at, "the newest email carries the clock")
        self.assertEqual(second.reply_due_at, monday_10am + timedelta(days=1))
        self.run_cron(MONDAY_4PM)
        self.assertFalse(self.alerts(first.case_id))
        self.run_cron(monday_10am + timedelta(days=1))
        activity = self.alerts(first.case_id)
        self.assertEqual(len(activity), 1, "one activity per case, not per email")
        self.assertIn("Re: Order 17", activity.summary)

    def test_older_email_synced_late_keeps_the_newer_clock(self):
        newer = self.deliver("Order 18", date=MONDAY_4PM, message_id="<order18@customer.example>")
        older = self.deliver(
            "Re: Order 18 (sent earlier)",
            extra_headers=["References: <order18@customer.example>"],
        )
        self.assertEqual(older.case_id, newer.case_id)
        self.assertFalse(older.reply_due_at)
        self.assertEqual(newer.reply_due_at, MONDAY_4PM + timedelta(days=1))

    # ------------------------------------------------------------------
    # Answers stop the clock
    # ------------------------------------------------------------------

    def test_reply_sent_from_odoo_cancels_the_alert(self):
        email = self.deliver("Broken screen")
        case = email.case_id
        self.run_cron(MONDAY_4PM)
        self.assertEqual(len(self.alerts(case)), 1)
        self.reply_from_case(case)
        self.assertFalse(self.alerts(case), "the activity is gone")
        self.assertFalse(email.is_reply_overdue)
        self.assertFalse(email.reply_due_at)
        self.assertFalse(case.is_reply_overdue)

    def test_reply_before_the_deadline_schedules_nothing(self):
        email = self.deliver("Quick question")
        self.reply_from_case(email.case_id)
        self.assertFalse(email.reply_due_at)
        self.run_cron(MONDAY_4PM + timedelta(days=7))
        self.assertFalse(self.alerts(email.case_id))
        self.assertFalse(email.is_reply_overdue)

    def test_reply_synced_from_sent_cancels_the_alert(self):
        email = self.deliver("Invoice wrong", message_id="<invoice@customer.example>")
        case = email.case_id
        self.run_cron(MONDAY_4PM)
        self.assertEqual(len(self.alerts(case)), 1)
        # Answered from another mail program: the copy is synced from the Sent folder.
        answer = self.deliver(
            "Re: Invoice wrong",
            date=MONDAY_4PM + timedelta(hours=1),
            folder="Sent",
            sender=self.account.email,
            to="wanda@customer.example",
            extra_headers=["In-Reply-To: <invoice@customer.example>"],
        )
        self.assertEqual(answer.direction, "outgoing")
        self.assertEqual(answer.case_id, case)
        self.assertFalse(self.alerts(case))
        self.assertFalse(email.is_reply_overdue)
        self.assertFalse(case.is_reply_overdue)

    def test_old_answer_does_not_stop_a_newer_clock(self):
        email = self.deliver("Second thought", message_id="<second@customer.example>")
        # An answer dated before the customer's email answers something else.
        self.deliver(
            "Re: earlier",
            date=FRIDAY_4PM - timedelta(hours=2),
            folder="Sent",
            sender=self.account.email,
            to="wanda@customer.example",
            extra_headers=["References: <second@customer.example>"],
        )
        self.assertEqual(email.reply_due_at, MONDAY_4PM)

    def test_lead_gets_the_alert_and_a_chatter_reply_cancels_it(self):
        salesperson = new_test_user(
            self.env,
            login="alert_salesperson",
            email="alert.sales@ourcompany.example",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        lead = self.env["crm.lead"].create(
            {
                "name": "Big deal",
                "email_from": "lena@prospect.example",
                "user_id": salesperson.id,
            }
        )
        self.account.create_cases = False
        email = self.deliver("About the offer", sender="Lena <lena@prospect.example>")
        lead_links = email.link_ids.filtered(lambda link: link.res_model == "crm.lead")
        self.assertIn(lead.id, lead_links.mapped("res_id"))
        self.assertEqual(email.reply_due_at, MONDAY_4PM)
        self.run_cron(MONDAY_4PM)
        activity = self.alerts(lead)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, salesperson)
        # The salesperson answers on the lead's chatter (Odoo mails it to the customer).
        lead.with_user(salesperson).message_post(
            body="We can do it.", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        self.assertFalse(self.alerts(lead))
        self.assertFalse(email.is_reply_overdue)

    def test_activity_marked_done_ends_the_wait(self):
        email = self.deliver("Call me back")
        case = email.case_id
        self.run_cron(MONDAY_4PM)
        self.alerts(case).with_user(self.agent).action_feedback(feedback="Phoned her.")
        self.assertFalse(self.alerts(case))
        self.assertFalse(email.is_reply_overdue)
        self.assertFalse(case.is_reply_overdue)
        self.run_cron(MONDAY_4PM + timedelta(days=7))
        self.assertFalse(self.alerts(case), "no new activity for the same email")

    def test_internal_note_does_not_stop_the_clock(self):
        email = self.deliver("Need a refund")
        email.case_id.with_user(self.agent).message_post(
            body="Checking with accounting.", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.assertEqual(email.reply_due_at, MONDAY_4PM)

    # ------------------------------------------------------------------
    # Mail that never alerts; bad settings
    # ------------------------------------------------------------------

    def test_archive_mail_never_alerts(self):
        self.account.archive_create_cases = True
        self.dovecot.append(
            self.login,
            "INBOX",
            self.message(subject="Old story", sender="wanda@customer.example", date=FRIDAY_4PM),
            internal_date=self.days_ago(5),
        )
        self.sync(self.account)
        email = self.Email.search([("subject", "=", "Old story")])
        self.assertEqual(email.import_mode, "archive")
        self.assertTrue(email.case_id)
        self.assertFalse(email.reply_due_at)
        self.run_cron(MONDAY_4PM + timedelta(days=30))
        self.assertFalse(self.alerts(email.case_id))

    def test_closed_case_waits_for_nothing(self):
        self.account.reopen_closed_cases = False
        first = self.deliver("Solved", message_id="<solved@customer.example>")
        case = first.case_id
        self.reply_from_case(case)
        case.stage_id = self.env["crm.mail.case.stage"].search([("is_closed", "=", True)], limit=1)
        thanks = self.deliver(
            "Re: Solved",
            date=MONDAY_4PM,
            extra_headers=["In-Reply-To: <solved@customer.example>"],
        )
        self.assertEqual(thanks.case_id, case)
        self.assertTrue(case.is_closed)
        self.assertFalse(thanks.reply_due_at)

    def test_closing_an_unanswered_case_removes_its_alert(self):
        overdue = self.deliver("Lost cause", message_id="<lost@customer.example>")
        case = overdue.case_id
        self.run_cron(MONDAY_4PM)
        self.assertEqual(len(self.alerts(case)), 1)
        waiting = self.deliver(
            "Re: Lost cause",
            date=MONDAY_4PM,
            extra_headers=["In-Reply-To: <lost@customer.example>"],
        )
        self.assertEqual(waiting.case_id, case)
        self.assertTrue(waiting.reply_due_at, "the newer email's clock runs")
        closed = self.env["crm.mail.case.stage"].search([("is_closed", "=", True)], limit=1)
        case.with_user(self.agent).stage_id = closed
        self.assertFalse(self.alerts(case), "a closed case asks for no answer")
        self.assertFalse(case.is_reply_overdue)
        self.assertFalse((overdue | waiting).filtered("is_reply_overdue"))
        self.assertFalse((overdue | waiting).filtered("reply_due_at"))
        self.run_cron(MONDAY_4PM + timedelta(days=7))
        self.assertFalse(self.alerts(case), "nor later")

    def test_mailbox_without_the_alert_starts_no_clock(self):
        self.account.reply_alert = False
        email = self.deliver("No alert here")
        self.assertTrue(email.case_id)
        self.assertFalse(email.reply_due_at)

    def test_delay_must_be_positive(self):
        for hours in (0, -2):
            with self.subTest(hours=hours), self.assertRaises(ValidationError) as caught:
                self.account.with_user(self.mail_admin).reply_alert_hours = hours
                self.account.flush_recordset()
            self.assertIn("more than zero working hours", str(caught.exception))
        # With the alert off, the delay is not used.
        self.account.reply_alert = False
        self.account.reply_alert_hours = 0
        self.account.flush_recordset()

    def test_working_hours_arithmetic(self):
        utc = timezone.utc
        day = datetime(2026, 11, 27, tzinfo=utc)
        periods = [
            (day.replace(hour=8), day.replace(hour=12)),
            (day.replace(hour=13), day.replace(hour=17)),
            (day.replace(day=30, hour=8), day.replace(day=30, hour=12)),
        ]
        self.assertEqual(add_working_hours(periods, day.replace(hour=7), 2), day.replace(hour=10))
        self.assertEqual(add_working_hours(periods, day.replace(hour=11), 2), day.replace(hour=14))
        self.assertEqual(
            add_working_hours(periods, day.replace(hour=16), 2), day.replace(day=30, hour=9)
        )
        self.assertIsNone(add_working_hours(periods, day.replace(hour=16), 20))
