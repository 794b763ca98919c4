# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Several personal mailboxes per user: the user's main address and the additional
addresses an administrator confirmed, against the real Dovecot and SMTP sink, through
the ORM and the web client's routes."""

import email as email_lib
import json
from contextlib import contextmanager
from email import policy
from unittest.mock import patch

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import CrmMailSyncCase

OWN = "crm_mail_sync.group_crm_mail_user,crm_mail_sync.group_crm_mail_personal"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestPersonalMailboxes(CrmMailSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.jane = new_test_user(
            cls.env,
            login="multibox_jane",
            name="Jane Doe",
            email="jane@ourcompany.example",
            groups=OWN,
        )
        cls.bob = new_test_user(
            cls.env,
            login="multibox_bob",
            name="Bob Roe",
            email="bob@ourcompany.example",
            groups=OWN,
        )
        cls.sink, cls.smtp = cls.start_smtp_sink()
        Address = cls.env["crm.mail.user.address"]
        cls.sales_address = Address.with_user(cls.mail_admin).create(
            {"user_id": cls.jane.id, "email": "Jane.Sales@ourcompany.example"}
        )
        cls.sales_address.with_user(cls.mail_admin).action_confirm()
        # A contact someone made of Jane's second address: it is no customer.
        cls.alias_contact = cls.env["res.partner"].create(
            {"name": "Jane (sales desk)", "email": "jane.sales@ourcompany.example"}
        )
        cls.carla = cls.env["res.partner"].create(
            {"name": "Carla", "email": "carla@customer.example"}
        )
        cls.main_box = cls._personal_box(cls.jane, "jane@ourcompany.example", "jane-main")
        cls.sales_box = cls._personal_box(cls.jane, "jane.sales@ourcompany.example", "jane-sales")
        login, password = cls.new_mailbox("support")
        cls.support = cls.env["crm.mail.account"].create(
            cls.account_values(login, password, name="Support")
        )
        cls.support.action_test_connection()
        cls.emails = {
            "main": cls._deliver(cls.main_box, "Main mailbox mail", "jane@ourcompany.example"),
            "second": cls._deliver(
                cls.sales_box, "Second mailbox mail", "jane.sales@ourcompany.example"
            ),
            "to_second": cls._deliver(
                cls.support,
                "Support mail to Jane's second address",
                "jane.sales@ourcompany.example",
            ),
            "other": cls._deliver(cls.support, "Support mail to nobody", "info@ourcompany.example"),
        }

    @classmethod
    def _personal_box(cls, user, address, prefix):
        login, password = cls.new_mailbox(prefix)
        account = (
            cls.env["crm.mail.account"]
            .with_user(user)
            .create(
                {
                    "name": f"{prefix} mailbox",
                    "account_type": "personal",
                    "user_id": user.id,
                    "email": address,
                    "host": cls.dovecot.host,
                    "port": cls.dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": password,
                    "smtp_server_id": cls.smtp.id,
                }
            )
        )
        account.sudo().action_test_connection()
        return account.sudo()

    @classmethod
    def _deliver(cls, account, subject, to):
        raw = cls.message(subject=subject, sender="carla@customer.example", to=to)
        cls.dovecot.append(account.login, "INBOX", raw)
        cls.sync(account)
        return cls.env["crm.mail.email"].search([("subject", "=", subject)])

    def visible(self, user):
        """The subjects of the emails of this class ``user`` finds (ORM search)."""
        ids = [email.id for email in self.emails.values()]
        found = self.env["crm.mail.email"].with_user(user).search([("id", "in", ids)])
        return set(found.mapped("subject"))

    @contextmanager
    def refused(self, pattern):
        """Expect a ValidationError matching ``pattern``, in a savepoint (unittest's
        assertRaisesRegex would keep what was written before the error)."""
        with self.assertRaises(ValidationError) as caught:
            yield
        self.assertRegex(str(caught.exception), pattern)

    def subjects(self, *kinds):
        return {self.emails[kind].subject for kind in kinds}

    # ------------------------------------------------------------------
    # Mailboxes and access
    # ------------------------------------------------------------------

    def test_both_mailboxes_sync(self):
        for kind, account in (("main", self.main_box), ("second", self.sales_box)):
            email = self.emails[kind]
            self.assertEqual(len(email), 1, kind)
            self.assertEqual(email.account_ids, account, kind)
            self.assertEqual(email.location_ids.folder_id.name, "INBOX", kind)
        self.assertEqual(
            self.jane._crm_mail_addresses()[self.jane.id],
            {
                "jane@ourcompany.example",
                "jane.sales@ourcompany.example",
            },
        )
        mine = (
            self.env["crm.mail.account"]
            .with_user(self.jane)
            .search([("account_type", "=", "personal")])
        )
        self.assertEqual(mine, self.main_box | self.sales_box)
        self.assertFalse(
            self.env["crm.mail.account"]
            .with_user(self.bob)
            .search([("account_type", "=", "personal")])
        )

    def test_own_level_covers_every_mailbox_and_address(self):
        self.assertEqual(self.visible(self.jane), self.subjects("main", "second", "to_second"))
        self.assertEqual(self.visible(self.bob), set())
        to_second = self.emails["to_second"]
        self.assertIn(self.jane, to_second.address_user_ids)
        read = to_second.with_user(self.jane).read(["subject", "body_text"])[0]
        self.assertEqual(read["subject"], to_second.subject)
        with self.assertRaises(AccessError):
            to_second.with_user(self.bob).read(["subject"])
        with self.assertRaises(AccessError):
            self.emails["second"].with_user(self.bob).read(["subject"])
        Email = self.env["crm.mail.email"].with_user(self.jane)
        self.assertEqual(
            Email.search([("is_in_my_mailbox", "=", True), ("id", "in", self.ids_of())]),
            self.emails["main"] | self.emails["second"],
        )
        self.assertIn(to_second, Email.search([("is_addressed_to_me", "=", True)]))

    def ids_of(self, *kinds):
        return [self.emails[kind].id for kind in kinds or self.emails]

    def test_web_client_routes(self):
        ids = self.ids_of()
        for user, expected in (
            (self.jane, self.subjects("main", "second", "to_second")),
            (self.bob, set()),
        ):
            self.authenticate(user.login, user.login)
            result = self.make_jsonrpc_request(
                "/web/dataset/call_kw/crm.mail.email/web_search_read",
                {
                    "model": "crm.mail.email",
                    "method": "web_search_read",
                    "args": [[("id", "in", ids)]],
                    "kwargs": {"specification": {"subject": {}}},
                },
            )
            self.assertEqual({row["subject"] for row in result["records"]}, expected, user.login)
            # The chatter of the sender's contact, as the web client loads it.
            response = self.url_open(
                "/mail/thread/messages",
                data=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "call",
                        "id": 1,
                        "params": {"thread_model": "res.partner", "thread_id": self.carla.id},
                    }
                ),
                headers={"Content-Type": "application/json"},
            )
            self.assertEqual(response.status_code, 200)
            messages = json.loads(response.text)["result"]["data"]["mail.message"]
            shown = {message["subject"] for message in messages if message["subject"]}
            self.assertEqual(shown, expected, user.login)
            # The entries of the other emails say nothing but that an email came.
            self.assertNotIn("Support mail to nobody", response.text)

    def test_second_address_is_not_a_customer(self):
        linked = self.emails["to_second"].link_ids.filtered(
            lambda link: link.res_model == "res.partner"
        )
        self.assertEqual(set(linked.mapped("res_id")), {self.carla.id})

    def test_confirmation_applies_at_once(self):
        email = self._deliver(
            self.support, "Support mail to Jane's alias", "jane.alias@ourcompany.example"
        )
        Email = self.env["crm.mail.email"].with_user(self.jane)
        proposal = (
            self.env["crm.mail.user.address"]
            .with_user(self.jane)
            .create({"email": "jane.alias@ourcompany.example", "note": "my alias"})
        )
        self.assertFalse(proposal.confirmed)
        self.assertFalse(Email.search([("id", "=", email.id)]))
        with self.assertRaises(AccessError):
            proposal.action_confirm()
        proposal.with_user(self.mail_admin).action_confirm()
        self.assertEqual(proposal.confirmed_by_id, self.mail_admin)
        self.assertTrue(proposal.confirmed_date)
        self.assertEqual(Email.search([("id", "=", email.id)]), email)
        self.assertFalse(
            self.env["crm.mail.email"].with_user(self.bob).search([("id", "=", email.id)])
        )
        proposal.with_user(self.mail_admin).action_unconfirm()
        self.assertFalse(Email.search([("id", "=", email.id)]))
        proposal.with_user(self.mail_admin).action_confirm()
        proposal.with_user(self.mail_admin).unlink()
        self.assertFalse(Email.search([("id", "=", email.id)]))

    # ------------------------------------------------------------------
    # Bad input
    # ------------------------------------------------------------------

    def test_unconfirmed_address_refused(self):
        self.env["crm.mail.user.address"].with_user(self.jane).create(
            {"email": "jane.new@ourcompany.example"}
        )
        with self.refused("waiting for an Emails administrator"):
            self._personal_box(self.jane, "jane.new@ourcompany.example", "jane-new")

    def test_other_users_address_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self._personal_box(self.jane, "bob@ourcompany.example", "jane-bob")
        message = str(caught.exception)
        self.assertIn(self.jane.name, message)
        self.assertIn("Jane Doe: jane.sales@ourcompany.example, jane@ourcompany.example", message)
        # Bob cannot use Jane's second address either.
        with self.refused("bob@ourcompany.example"):
            self._personal_box(self.bob, "jane.sales@ourcompany.example", "bob-jane")
        Address = self.env["crm.mail.user.address"].with_user(self.mail_admin)
        with self.refused(f"already belongs to {self.bob.name}"):
            Address.create({"user_id": self.jane.id, "email": "BOB@ourcompany.example"})
        with self.refused(f"already belongs to {self.jane.name}"):
            Address.create({"user_id": self.bob.id, "email": "jane.sales@ourcompany.example"})
        # Nor may a user's main address become another user's additional one.
        with self.refused(f"already belongs to {self.jane.name}"):
            self.bob.email = "jane.sales@ourcompany.example"
        with self.refused("already the main address"):
            Address.create({"user_id": self.jane.id, "email": "jane@ourcompany.example"})
        with self.refused("not a valid email address"):
            Address.create({"user_id": self.jane.id, "email": "no address"})
        # Users propose for themselves only, and never confirm.
        with self.assertRaises(AccessError):
            self.env["crm.mail.user.address"].with_user(self.jane).create(
                {"user_id": self.bob.id, "email": "bob.two@ourcompany.example"}
            )
        proposal = (
            self.env["crm.mail.user.address"]
            .with_user(self.jane)
            .create({"email": "jane.two@ourcompany.example", "confirmed": True})
        )
        self.assertFalse(proposal.confirmed)
        with self.assertRaises(AccessError):
            proposal.write({"email": "jane.three@ourcompany.example"})
        self.assertFalse(self.env["crm.mail.user.address"].with_user(self.bob).search([]))

    def test_address_in_use_cannot_be_withdrawn(self):
        address = self.sales_address.with_user(self.mail_admin)
        for change in (
            address.action_unconfirm,
            address.unlink,
            lambda: address.write({"email": "jane.other@ourcompany.example"}),
            lambda: address.write({"user_id": self.bob.id}),
        ):
            with self.refused(self.sales_box.display_name):
                change()
        with self.assertRaises(AccessError):
            self.sales_address.with_user(self.jane).unlink()
        self.assertTrue(self.sales_address.confirmed)
        # Once the mailbox is gone, the address may go.
        self.sales_box.unlink()
        address.action_unconfirm()
        self.assertNotIn(self.jane, self.emails["to_second"].address_user_ids)

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    def test_send_from_the_second_mailbox(self):
        Accounts = self.env["crm.mail.account"]
        sendable = Accounts.with_user(self.jane)._get_sendable_accounts()
        self.assertEqual(
            sendable & (self.main_box | self.sales_box), self.main_box | self.sales_box
        )
        self.assertNotIn(self.sales_box, Accounts.with_user(self.bob)._get_sendable_accounts())
        # Mail to the second address in a group mailbox is answered from the second mailbox.
        self.assertEqual(
            self.emails["to_second"].with_user(self.jane)._get_reply_account(), self.sales_box
        )
        values = {
            "composition_mode": "comment",
            "model": "res.partner",
            "res_ids": str(self.carla.ids),
            "crm_mail_account_id": self.sales_box.id,
            "partner_ids": [(6, 0, self.carla.ids)],
            "subject": "From the sales desk",
            "body": "<p>Our offer.</p>",
        }
        composer = self.env["mail.compose.message"].with_user(self.jane).create(values)
        self.sink.messages.clear()
        # Odoo skips the SMTP conversation while a test runs: lift that guard only here.
        with patch("odoo.modules.module.current_test", None):
            composer.action_send_mail()
        self.assertEqual(len(self.sink.messages), 1)
        envelope = self.sink.messages[0]
        message = email_lib.message_from_bytes(envelope["raw"], policy=policy.default)
        self.assertEqual(message["From"], f"{self.jane.name} <jane.sales@ourcompany.example>")
        self.assertEqual(envelope["mail_from"], "jane.sales@ourcompany.example")
        archived = self.env["crm.mail.email"].search([("subject", "=", "From the sales desk")])
        self.assertEqual(archived.sent_account_id, self.sales_box)
        self.assertEqual(archived.sent_by_user_id, self.jane)
        self.assertTrue(
            self.env["crm.mail.email"].with_user(self.jane).search([("id", "=", archived.id)])
        )
        self.assertFalse(
            self.env["crm.mail.email"].with_user(self.bob).search([("id", "=", archived.id)])
        )
        # Bob may not send from Jane's second mailbox.
        values["subject"] = "Not Bob's"
        refused = (
            self.env["mail.compose.message"]
            .with_user(self.bob)
            .create({**values, "crm_mail_account_id": self.sales_box.id})
        )
        with self.assertRaises(AccessError), patch("odoo.modules.module.current_test", None):
            refused.action_send_mail()
        self.assertEqual(len(self.sink.messages), 1)
