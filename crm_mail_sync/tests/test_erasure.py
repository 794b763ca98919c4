# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Forget an address (GDPR erasure), against real Dovecot: what goes, what stays on
the server, what later syncs do, and an erasure cut in the middle."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestErasure(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.contact = cls.env["res.partner"].create(
            {"name": "Erin Erased", "email": "erin@forget.example"}
        )
        cls.Erasure = cls.env["crm.mail.erasure"]

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("erase")
        self.account = self.create_account(self.login, password)
        self.folders = self.connect(self.account)
        self.account.live_since = self.days_ago(1)

    def deliver(self, *raws):
        for raw in raws:
            self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account)

    def erin(self, subject, **kw):
        kw.setdefault("sender", "Erin <erin@forget.example>")
        kw.setdefault("to", self.account.email)
        return self.message(subject=subject, **kw)

    def server_count(self):
        with self.dovecot.imap(self.login) as imap:
            return int(imap.select("INBOX", readonly=True)[1][0])

    def erin_emails(self):
        return self.Email.search(
            [
                "|",
                ("from_address", "=", "erin@forget.example"),
                ("recipient_addresses", "ilike", "erin@"),
            ]
        )

    def wizard(self, address):
        return (
            self.env["crm.mail.forget.address.wizard"]
            .with_user(self.mail_admin)
            .create({"address": address})
        )

    def test_forget_an_address(self):
        self.deliver(
            self.erin("From Erin"),
            self.message(subject="To Erin", sender="bob@other.example", to="Erin@Forget.example"),
            self.message(
                subject="Cc Erin",
                sender="bob@other.example",
                extra_headers=["Cc: erin@forget.example"],
            ),
            self.message(subject="Not Erin", sender="bob@other.example"),
        )
        emails = self.erin_emails()
        self.assertEqual(len(emails), 3)
        entries = emails.link_ids.mail_message_id
        self.assertTrue(entries)
        wizard = self.wizard(" ERIN@forget.example ")
        # The count comes first, before anything is deleted.
        self.assertEqual(wizard.email_count, 3)
        wizard.action_forget()
        self.assertFalse(emails.exists())
        self.assertFalse(entries.exists())
        self.assertFalse(self.contact.message_ids.filtered("crm_mail_email_id"))
        self.assertEqual(
            self.Email.search([("account_ids", "in", self.account.ids)]).mapped("subject"),
            ["Not Erin"],
        )
        erasure = self.Erasure.search([])
        self.assertEqual(erasure.state, "done")
        self.assertEqual(erasure.email_count, 3)
        # Only a keyed hash of the address is kept.
        self.assertFalse(erasure.address)
        self.assertNotIn("erin", erasure.address_hash)
        # The server keeps its mail.
        self.assertEqual(self.server_count(), 4)
        # A full rescan of the mailbox (its UIDs forgotten) and new mail from Erin bring
        # nothing of hers back; other mail still comes in.
        self.folders["INBOX"].write({"last_uid": 0, "uidvalidity": 0})
        self.folders["INBOX"].location_ids.unlink()
        self.deliver(
            self.erin("Erin again"), self.message(subject="Someone else", sender="x@y.example")
        )
        self.assertFalse(self.erin_emails())
        self.assertIn("Someone else", self.emails_of(self.account).mapped("subject"))

    def test_forget_an_address_with_no_mail_says_so(self):
        wizard = self.wizard("nobody@nowhere.example")
        self.assertEqual(wizard.email_count, 0)
        with self.assertRaisesRegex(UserError, "No email from or to nobody@nowhere.example"):
            wizard.action_forget()
        with self.assertRaisesRegex(UserError, "not an email address"):
            self.wizard("not an address").action_forget()
        self.assertFalse(self.Erasure.search([]))

    def test_only_administrators_forget(self):
        self.deliver(self.erin("Protected"))
        with self.assertRaises(AccessError):
            self.env["crm.mail.forget.address.wizard"].with_user(self.mail_user).create(
                {"address": "erin@forget.example"}
            )
        with self.assertRaises(AccessError):
            self.Erasure.with_user(self.mail_user).search([])

    def test_an_interrupted_erasure_leaves_nothing_half_deleted(self):
        self.deliver(*(self.erin(f"Erin {index}") for index in range(5)))
        emails = self.erin_emails()
        self.assertEqual(len(emails), 5)
        erasure = self.Erasure.create(
            {
                "address": "erin@forget.example",
                "address_hash": self.Erasure._hash("erin@forget.example"),
            }
        )
        # One batch, as one transaction of the scheduled action would do, then a stop.
        self.assertFalse(erasure._erase_batch(limit=2))
        gone, left = emails - emails.exists(), emails.exists()
        self.assertEqual((len(gone), len(left)), (2, 3))
        self.assertEqual(erasure.state, "running")
        self.assertEqual(erasure.email_count, 2)
        # Whole emails only: no entry is left of the deleted ones, none missing of the others.
        Message = self.env["mail.message"]
        self.assertFalse(Message.search([("crm_mail_email_id", "in", gone.ids)]))
        for email in left:
            self.assertEqual(len(email.link_ids.mail_message_id), len(email.link_ids))
            self.assertTrue(email.link_ids)
        # Meanwhile, the sync already skips the address.
        self.deliver(self.erin("During the erasure"))
        self.assertFalse(self.Email.search([("subject", "=", "During the erasure")]))
        # The scheduled action resumes where it stopped.
        self.Erasure._cron_process()
        self.assertEqual(erasure.state, "done")
        self.assertEqual(erasure.email_count, 5)
        self.assertFalse(self.erin_emails())
