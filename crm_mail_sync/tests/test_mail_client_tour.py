# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A real browser through the inbox as a mail client: the folder tree's unread
counts, a conversation opened as one thread, and a reply written from a template."""

import time
from datetime import datetime, timedelta, timezone

from odoo.tests import HttpCase, tagged

from . import mail_corpus
from .common import admin_mailbox_with
from .servers import get_shared_dovecot

SUBJECT = "Conv tour order status"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMailClientTour(HttpCase):
    def test_conversation_template_reply_and_folder_counts(self):
        admin = self.env.ref("base.user_admin")
        sender = "Olga Tour <olga.tour@customer.example>"
        first_id = "<conv-tour-1@customer.example>"
        now = datetime.now(timezone.utc)
        account = admin_mailbox_with(
            self.env,
            "convtour",
            mail_corpus.simple_message(
                message_id=first_id,
                subject=SUBJECT,
                sender=sender,
                to=admin.email,
                body="Where is my order 7781?",
                date=now - timedelta(hours=2),
            ),
            live=True,
        )
        account.name = "Conv tour mailbox"
        # Her reminder quotes her first email: the thread folds it.
        get_shared_dovecot().append(
            account.login,
            "INBOX",
            mail_corpus.simple_message(
                message_id="<conv-tour-2@customer.example>",
                subject=f"Re: {SUBJECT}",
                sender=sender,
                to=admin.email,
                body="Any news?\n\nOn Monday, Olga Tour wrote:\n> Where is my order 7781?",
                date=now - timedelta(hours=1),
                extra_headers=[f"In-Reply-To: {first_id}", f"References: {first_id}"],
            ),
        )
        account._sync(deadline=time.monotonic() + 60, commit=False)
        emails = self.env["crm.mail.email"].search([("subject", "like", SUBJECT)])
        self.assertEqual(len(emails), 2)
        self.assertEqual(len(emails.conversation_id), 1)

        self.start_tour(
            "/odoo/action-crm_mail_sync.crm_mail_email_action",
            "crm_mail_sync_client_tour",
            login="admin",
            timeout=120,
        )

        self.env.invalidate_all()
        reminder = emails.filtered(lambda e: e.subject.startswith("Re:"))
        self.assertTrue(reminder.with_user(admin).is_read)
        self.assertFalse((emails - reminder).with_user(admin).is_read)
        answer = self.env["crm.mail.email"].search([("in_reply_to", "=", reminder.message_id)])
        self.assertEqual(answer.direction, "outgoing")
        self.assertEqual(answer.subject, f"Re: {SUBJECT}")
        self.assertIn("we have received it", answer.body_text or str(answer.body_html))
        self.assertEqual(answer.conversation_id, emails.conversation_id)
        # Sent by admin: read for admin (the count fell), unread for anyone else.
        self.assertTrue(answer.with_user(admin).is_read)
        self.assertEqual(answer.read_by_user_ids, admin)
