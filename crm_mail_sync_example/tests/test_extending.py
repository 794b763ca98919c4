# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The examples of crm_mail_sync's readme/EXTENDING.md, installed as a partner's
module is: the linkable model and the filter action run through the real import chain
without a mail server, the login method against Dovecot.

This module is installed and tested after crm_mail_sync's own tests (scripts/test),
in the same database, so that its additions never change what those tests see.
"""

import inspect

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import file_open, mute_logger

from odoo.addons.crm_mail_sync.tests.common import CrmMailSyncCase, CrmMailUnitCase

from ..models import crm_mail_account, crm_mail_example_subscription, crm_mail_filter


@tagged("post_install", "-at_install", "crm_mail_sync_example")
class TestExtending(CrmMailUnitCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Subscription = cls.env["crm.mail.example.subscription"]
        cls.account = cls.local_account("extending")
        cls.inbox = cls.local_folder(cls.account, "INBOX")

    def test_examples_are_the_documented_ones(self):
        with file_open("crm_mail_sync/readme/EXTENDING.md") as handle:
            text = handle.read()
        for title, example in (
            ("## A linkable model", crm_mail_example_subscription.CrmMailExampleSubscription),
            ("## A filter action", crm_mail_filter.CrmMailFilter),
            ("## A login method", crm_mail_account.CrmMailAccount),
        ):
            self.assertIn(title, text)
            self.assertIn(inspect.getsource(example), text, f"{title}: not word for word")

    def test_linkable_model_is_linked_by_its_hook(self):
        self.assertIn(
            "crm.mail.example.subscription",
            self.env["crm.mail.linking"]._get_linkable_models(),
        )
        current, closed = self.Subscription.create(
            [
                {"name": "Gold plan", "billing_email": "billing@customer.example"},
                {
                    "name": "Old plan",
                    "billing_email": "billing@customer.example",
                    "state": "closed",
                },
            ]
        )
        batch = self.import_raw(
            self.inbox, [self.message(subject="Invoice query", sender="billing@customer.example")]
        )
        email = batch.new_emails
        self.assertEqual(email.subject, "Invoice query")
        links = email.link_ids.filtered(lambda link: link.res_model == self.Subscription._name)
        self.assertEqual(links.mapped("res_id"), current.ids)
        self.assertTrue(self.chatter_entries(current, email))
        self.assertFalse(self.chatter_entries(closed, email))
        self.assertEqual(current.crm_mail_email_count, 1)
        # A subscription gaining the address later finds the archive linked to it.
        later = self.Subscription.create({"name": "Silver plan"})
        self.assertFalse(self.chatter_entries(later, email))
        later.billing_email = "billing@customer.example"
        self.assertTrue(self.chatter_entries(later, email))

    def test_filter_action_is_a_method_of_the_filter(self):
        contact = self.env["res.partner"].create(
            {"name": "Known customer", "email": "known@customer.example"}
        )
        self.env["crm.mail.filter"].create(
            {
                "name": "HR stays private",
                "scope": "account",
                "account_id": self.account.id,
                "subject_contains": "salary",
                "action": "private",
            }
        )
        batch = self.import_raw(
            self.inbox,
            [
                self.message(subject="Salary review", sender=contact.email),
                self.message(subject="Order 42", sender=contact.email),
            ],
        )
        private = batch.new_emails.filtered(lambda email: email.subject == "Salary review")
        public = batch.new_emails - private
        self.assertTrue(private.is_private)
        self.assertFalse(private.link_ids)
        self.assertFalse(self.chatter_entries(contact, private))
        self.assertFalse(public.is_private)
        self.assertTrue(self.chatter_entries(contact, public))


@tagged("post_install", "-at_install", "crm_mail_sync_example")
class TestExtendingLogin(CrmMailSyncCase):
    def test_login_method_is_the_protocols_hook(self):
        login, password = self.new_mailbox("sasl")
        account = self.create_account(login, password, imap_sasl_plain=True)
        self.assertIn("INBOX", self.connect(account))
        with account._open_session() as session:
            # imaplib, under imapclient, keeps the last commands it sent.
            sent = [str(command) for command in session.conn._imap._cmd_log.values()]
        self.assertTrue(any("AUTHENTICATE PLAIN" in command for command in sent), sent)
        self.assertFalse(any(" LOGIN " in command for command in sent), sent)
        # A refused login is the usual error, without the password.
        account.password = "wrong-" + password
        with self.assertRaises(UserError) as caught, mute_logger("odoo.sql_db"):
            account.action_test_connection()
        self.assertIn("refused the login", str(caught.exception))
        self.assertNotIn(password, str(caught.exception))
