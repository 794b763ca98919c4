# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the composer tests: a personal mailbox on the real Dovecot whose
outgoing server is the real SMTP sink, and the composer opened like the web client
opens it ("New Email", Reply/Forward from the inbox)."""

import email as email_lib
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from unittest.mock import patch

from odoo.tests import new_test_user
from odoo.tools.safe_eval import safe_eval

from .common import CrmMailSyncCase


class ComposeCase(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.member = new_test_user(
            cls.env,
            login="compose_member",
            name="Mia Member",
            email="member@ourcompany.example",
            signature="<p>Mia Member, Support</p>",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user",
        )
        cls.sink, cls.smtp = cls.start_smtp_sink()
        # The user reads leads (templates of a lead, files of a lead).
        cls.mail_user.groups_id += cls.env.ref("sales_team.group_sale_salesman_all_leads")
        cls.mail_user.signature = "<p>Uma User, Sales</p>"
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carl Customer", "email": "carl@customer.example"}
        )

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("compose")
        self.account = self.create_personal_account(
            self.mail_user, self.login, password, smtp_server_id=self.smtp.id
        )
        self.connect(self.account)

    def new_email(self, user=None, **vals):
        """The "New Email" menu's composer (no record), as ``user``, with ``vals``."""
        action = self.env.ref("crm_mail_sync.crm_mail_compose_action")
        Composer = self.env["mail.compose.message"].with_user(user or self.mail_user)
        context = safe_eval(action.context or "{}", {"uid": Composer.env.uid})
        return Composer.with_context(**context).create(vals)

    def reply_composer(self, original, mode, user=None):
        """The composer of the inbox's Reply / Reply All / Forward button."""
        user = user or self.mail_user
        action = original.with_user(user)._open_composer(mode)
        return (
            self.env["mail.compose.message"]
            .with_user(user)
            .with_context(**action["context"])
            .create({})
        )

    def send(self, composer):
        """Press Send; return the messages the sink got."""
        # Odoo skips the SMTP conversation while a test runs: lift that guard only here.
        with patch("odoo.modules.module.current_test", None):
            composer.action_send_mail()
        received = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        self.sink.messages.clear()
        return received

    def receive(self, subject, sender="Carl Customer <carl@customer.example>"):
        """An email arriving in the personal mailbox, synced."""
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = sender
        message["To"] = self.mail_user.email
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(timezone.utc))
        message["Message-ID"] = f"<{subject.replace(' ', '-')}@customer.example>"
        message.set_content("The original text.")
        self.dovecot.append(self.login, "INBOX", message.as_bytes())
        self.sync(self.account.sudo())
        return self.Email.search([("subject", "=", subject)])

    @staticmethod
    def html(message):
        return message.get_body(("html",)).get_content()
