# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mail leaving a case: the auto-reply and replies, read at a real SMTP sink."""

import email as email_lib
from email import policy
from email.utils import parseaddr
from unittest.mock import patch

from odoo.tests import new_test_user, tagged

from ..lib.addresses import split_plus
from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestCaseMail(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink, cls.smtp = cls.start_smtp_sink()
        cls.agent = new_test_user(
            cls.env,
            login="case_agent",
            email="agent@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Helpdesk", "member_ids": [(6, 0, cls.agent.ids)]}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carl Customer", "email": "carl@customer.example"}
        )

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("helpdesk")
        self.account = self.create_account(
            self.login,
            password,
            name="Helpdesk",
            create_cases=True,
            team_ids=[(6, 0, self.team.ids)],
            smtp_server_id=self.smtp.id,
            auto_reply_template_id=self.env.ref("crm_mail_sync.mail_template_case_auto_reply").id,
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)

    def deliver(self, subject, sender="carl@customer.example", headers=()):
        self.dovecot.append(
            self.login,
            "INBOX",
            self.message(
                subject=subject, sender=sender, to=self.account.email, extra_headers=list(headers)
            ),
        )
        self.sync(self.account)
        return self.Email.search([("subject", "=", subject)], order="id desc", limit=1)

    def flush_outgoing(self):
        """Send the queued mail through the real SMTP sink and return what it got."""
        # Odoo skips the SMTP conversation while a test runs: lift that guard only here.
        with patch("odoo.modules.module.current_test", None):
            self.env["mail.mail"].sudo().search([("state", "=", "outgoing")]).send()
        received = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        self.sink.messages.clear()
        return received

    @staticmethod
    def reply_to_mailbox(message):
        """The mailbox of a message's Reply-To, its plus tag taken off."""
        return split_plus(parseaddr(str(message["Reply-To"]))[1])[0]

    def test_auto_reply_once_with_loop_headers(self):
        email = self.deliver("My order is late")
        self.assertTrue(email.case_id)
        sent = self.flush_outgoing()
        self.assertEqual(len(sent), 1)
        reply = sent[0]
        self.assertIn(email.case_id.name, reply["Subject"])
        self.assertEqual(reply["Auto-Submitted"], "auto-replied")
        self.assertEqual(reply["X-Auto-Response-Suppress"], "All")
        self.assertEqual(reply["In-Reply-To"], email.message_id)
        self.assertIn(self.account.email, reply["From"])
        # Answers come back to the mailbox, under the case's signed plus tag.
        self.assertEqual(self.reply_to_mailbox(reply), self.account.email)
        self.assertIn("carl@customer.example", reply["To"])
        # Rate limit: a second case from the same sender within 24 h gets no reply.
        self.assertTrue(self.deliver("Another question").case_id)
        self.assertEqual(self.flush_outgoing(), [])

    def test_no_auto_reply_to_loops_and_robots(self):
        cases = [
            ("auto", "carl1@customer.example", ["Auto-Submitted: auto-generated"]),
            ("bulk", "carl2@customer.example", ["Precedence: bulk"]),
            ("list", "carl3@customer.example", ["List-Id: <news.customer.example>"]),
            ("unsub", "carl4@customer.example", ["List-Unsubscribe: <mailto:u@x.example>"]),
            ("suppress", "carl5@customer.example", ["X-Auto-Response-Suppress: All"]),
            ("loop", "carl6@customer.example", ["X-Loop: helpdesk"]),
            ("bounce", "carl7@customer.example", ["Return-Path: <>"]),
            ("daemon", "MAILER-DAEMON@customer.example", []),
            ("noreply", "no-reply@customer.example", []),
            ("ourselves", self.account.email, []),
        ]
        other_login, other_password = self.new_mailbox("fetched")
        other = self.create_account(other_login, other_password)
        cases.append(("fetched", other.email, []))
        for name, sender, headers in cases:
            email = self.deliver(f"Loop case {name}", sender=sender, headers=headers)
            with self.subTest(name=name):
                self.assertEqual(self.flush_outgoing(), [], name)
                if headers or name in ("daemon", "noreply"):
                    self.assertTrue(email.no_auto_reply_reason, name)

    def test_reply_from_case_leaves_through_the_mailbox_and_comes_back(self):
        email = self.deliver("Need help with setup")
        case = email.case_id
        self.flush_outgoing()  # the auto-reply
        # Queued rather than sent at once, so that it goes out through the sink below.
        message = (
            case.with_user(self.agent)
            .with_context(mail_notify_force_send=False)
            .message_post(
                body="Here is how to do it.",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.customer.ids,
            )
        )
        sent = self.flush_outgoing()
        self.assertEqual(len(sent), 1)
        out = sent[0]
        self.assertIn(self.account.email, out["From"])
        self.assertEqual(self.reply_to_mailbox(out), self.account.email)
        self.assertIn(case.name, out["Subject"])
        self.assertIn("carl@customer.example", out["To"])
        # The customer answers: the answer comes back through the mailbox onto the case.
        answer = self.deliver("Re: thanks", headers=[f"In-Reply-To: {message.message_id}"])
        self.assertEqual(answer.case_id, case)
