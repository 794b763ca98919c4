# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Plus-addresses: the signed Reply-To of mail sent about a record, and the readable
``sales+lead42@``, read from a real Dovecot and a real SMTP sink."""

import email as email_lib
import re
from email import policy
from email.utils import parseaddr
from unittest.mock import patch

from odoo.tests import new_test_user, tagged

from ..lib import plus_address
from ..lib.addresses import is_own_address, normalize_address, split_plus
from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestPlusAddressing(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink, cls.smtp = cls.start_smtp_sink()
        cls.agent = new_test_user(
            cls.env,
            login="plus_agent",
            email="plus.agent@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Plus desk", "member_ids": [(6, 0, cls.agent.ids)]}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Petra Plus", "email": "petra@plus-customer.example"}
        )
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Plus deal", "email_from": "petra@plus-customer.example"}
        )
        cls.Linking = cls.env["crm.mail.linking"]

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("support")
        self.account = self.create_account(
            self.login,
            password,
            name="Support",
            create_cases=True,
            team_ids=[(6, 0, self.team.ids)],
            smtp_server_id=self.smtp.id,
            # Dovecot here delivers support+tag@ to support@ (recipient delimiter).
            plus_address_replies=True,
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)
        self.local, _at, self.domain = self.account.email.partition("@")

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def deliver(self, subject, to, sender="petra@plus-customer.example", headers=()):
        self.dovecot.append(
            self.login,
            "INBOX",
            self.message(subject=subject, sender=sender, to=to, extra_headers=list(headers)),
        )
        self.sync(self.account)
        return self.Email.search([("subject", "=", subject)], order="id desc", limit=1)

    def flush_outgoing(self):
        """Send the queued mail through the real SMTP sink and return what it got."""
        with patch("odoo.modules.module.current_test", None):
            self.env["mail.mail"].sudo().search([("state", "=", "outgoing")]).send()
        received = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        self.sink.messages.clear()
        return received

    def targets(self, email):
        return {(link.res_model, link.res_id): link.reason for link in email.link_ids}

    def plus(self, tag):
        return f"{self.local}+{tag}@{self.domain}"

    def open_case(self):
        email = self.deliver("Printer on fire", to=self.account.email)
        self.assertTrue(email.case_id)
        self.flush_outgoing()
        return email.case_id

    def reply_from_case(self, case):
        (
            case.with_user(self.agent)
            .with_context(mail_notify_force_send=False)
            .message_post(
                body="Please try turning it off.",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.customer.ids,
            )
        )
        sent = self.flush_outgoing()
        self.assertEqual(len(sent), 1)
        return sent[0]

    # ------------------------------------------------------------------
    # The signed Reply-To
    # ------------------------------------------------------------------

    def test_case_reply_has_signed_reply_to_and_the_answer_joins_the_case(self):
        case = self.open_case()
        out = self.reply_from_case(case)
        reply_to = parseaddr(str(out["Reply-To"]))[1]
        base, tag = split_plus(reply_to)
        self.assertEqual(base, self.account.email)
        self.assertRegex(tag, rf"^case{case.id}-[a-z2-7]{{13}}$")
        self.assertLess(len(reply_to.partition("@")[0]), 64)
        # From keeps the mailbox's plain address.
        self.assertEqual(parseaddr(str(out["From"]))[1], self.account.email)
        # The customer answers that address: no references, another subject.
        answer = self.deliver("Totally different topic", to=reply_to)
        self.assertFalse(answer.in_reply_to or answer.references)
        self.assertEqual(self.targets(answer).get(("crm.mail.case", case.id)), "thread")
        self.assertEqual(answer.case_id, case)
        self.assertEqual(answer.direction, "incoming")

    def test_reply_to_is_plain_unless_the_mailbox_takes_plus_addresses(self):
        # Off by default: on a server without plus addressing the answers would bounce.
        self.assertFalse(self.Account.new({}).plus_address_replies)
        self.account.plus_address_replies = False
        case = self.open_case()
        out = self.reply_from_case(case)
        self.assertEqual(parseaddr(str(out["Reply-To"]))[1], self.account.email)

    def test_token_also_joins_for_a_forwarded_answer_of_a_stranger(self):
        # The token proves its sender got our mail, as a token Message-ID does.
        case = self.open_case()
        reply_to = parseaddr(str(self.reply_from_case(case)["Reply-To"]))[1]
        answer = self.deliver("Fwd from colleague", to=reply_to, sender="colleague@else.example")
        self.assertEqual(self.targets(answer).get(("crm.mail.case", case.id)), "thread")

    def test_forged_or_garbled_token_links_nothing(self):
        case = self.open_case()
        other_case = self.open_case_of("Another issue", "other@plus-customer.example")
        good = self.Linking._plus_tag_for("crm.mail.case", case.id)
        mac = good.rpartition("-")[2]
        garbled = f"case{case.id}-{'a' if mac[0] != 'a' else 'b'}{mac[1:]}"
        forged = [
            garbled,
            f"case{case.id}-aaaaaaaaaaaaa",
            f"case{case.id}-",
            f"case{case.id}-{mac}x",
            # A valid token of one case does not open another.
            f"case{other_case.id}-{mac}",
        ]
        for index, tag in enumerate(forged):
            with self.subTest(tag=tag):
                answer = self.deliver(
                    f"Forged {index}", to=self.plus(tag), sender="mallory@evil.example"
                )
                # A case of its own, nothing else.
                self.assertEqual(
                    self.targets(answer), {("crm.mail.case", answer.case_id.id): "thread"}
                )
                self.assertNotIn(answer.case_id, case | other_case)
                self.assertIn("not valid", answer.routing_note or "")
        # The genuine token, from the same stranger, does join (the test can fail).
        answer = self.deliver("Genuine", to=self.plus(good), sender="mallory@evil.example")
        self.assertEqual(answer.case_id, case)

    def open_case_of(self, subject, sender):
        email = self.deliver(subject, to=self.account.email, sender=sender)
        self.assertTrue(email.case_id)
        self.flush_outgoing()
        return email.case_id

    def test_composer_from_lead_signs_reply_to(self):
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.mail_admin)
            .create(
                {
                    "composition_mode": "comment",
                    "model": "crm.lead",
                    "res_ids": str(self.lead.ids),
                    "crm_mail_account_id": self.account.id,
                    "crm_mail_email_to": "petra@plus-customer.example",
                    "subject": "Your offer",
                    "body": "<p>Here it is.</p>",
                }
            )
        )
        with patch("odoo.modules.module.current_test", None):
            composer.action_send_mail()
        sent = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        self.assertEqual(len(sent), 1)
        reply_to = parseaddr(str(sent[0]["Reply-To"]))[1]
        self.assertRegex(split_plus(reply_to)[1], rf"^lead{self.lead.id}-[a-z2-7]{{13}}$")
        answer = self.deliver("Thanks, but", to=reply_to, sender="new.person@else.example")
        self.assertEqual(self.targets(answer).get(("crm.lead", self.lead.id)), "thread")

    # ------------------------------------------------------------------
    # The readable plus-address
    # ------------------------------------------------------------------

    def test_readable_plus_address_links_for_a_participant_only(self):
        address = self.plus(f"lead{self.lead.id}")
        email = self.deliver("About the deal", to=address)
        self.assertEqual(self.targets(email).get(("crm.lead", self.lead.id)), "reference")
        self.assertFalse(email.routing_note)
        # Upper case in the local part reads the same.
        email = self.deliver("About the deal, loud", to=address.upper())
        self.assertEqual(self.targets(email).get(("crm.lead", self.lead.id)), "reference")
        # A stranger who knows the id gets nowhere, and the email says why.
        stranger = self.deliver("Inject me", to=address, sender="mallory@evil.example")
        self.assertNotIn(("crm.lead", self.lead.id), self.targets(stranger))
        self.assertIn("takes no part", stranger.routing_note or "")
        self.assertIn(self.lead.name, stranger.routing_note or "")

    def test_plus_tags_of_other_addresses_are_ignored(self):
        for index, to in enumerate(
            [
                f"{self.local}+lead{self.lead.id}@elsewhere.example",
                f"someone+lead{self.lead.id}@{self.domain}",
                self.plus(f"nolead{self.lead.id}x"),
                self.plus(f"lead{self.lead.id + 10**6}"),
            ]
        ):
            with self.subTest(to=to):
                email = self.deliver(f"Elsewhere {index}", to=f"{self.account.email}, {to}")
                # The lead's customer: linked by address, never by the tag.
                self.assertEqual(self.targets(email).get(("crm.lead", self.lead.id)), "address")
                self.assertFalse(email.routing_note)

    # ------------------------------------------------------------------
    # The mailbox's own address, tagged
    # ------------------------------------------------------------------

    def test_tagged_own_address_is_still_the_mailbox(self):
        tagged_own = self.plus("newsletter")
        # From the mailbox under a tag: our own mail, no case.
        out = self.deliver("We wrote this", to="petra@plus-customer.example", sender=tagged_own)
        self.assertEqual(out.direction, "outgoing")
        self.assertFalse(out.case_id)
        # To the mailbox under a tag: incoming; the tagged address is no counterpart.
        incoming = self.deliver("Hello there", to=tagged_own)
        self.assertEqual(incoming.direction, "incoming")
        self.assertNotIn(tagged_own, incoming._external_addresses())
        self.assertIn("petra@plus-customer.example", incoming._external_addresses())
        # Normalisation keeps tags: a contact's own tagged address stays its own.
        self.assertEqual(normalize_address("Bob+News@X.example"), "bob+news@x.example")
        self.assertTrue(is_own_address(tagged_own, {self.account.email}))
        self.assertFalse(is_own_address(f"{self.local}+x@elsewhere.example", {self.account.email}))

    # ------------------------------------------------------------------
    # The tags themselves
    # ------------------------------------------------------------------

    def test_tag_round_trip(self):
        key = b"k" * 32
        tag = plus_address.make_tag(key, "case", 17)
        self.assertTrue(re.fullmatch(r"case17-[a-z2-7]{13}", tag))
        self.assertEqual(plus_address.read_tag(key, tag), ("case", 17, plus_address.SIGNED))
        self.assertEqual(plus_address.read_tag(key, tag.upper())[2], plus_address.SIGNED)
        self.assertEqual(plus_address.read_tag(b"x" * 32, tag)[2], plus_address.FORGED)
        self.assertEqual(plus_address.read_tag(key, "case17"), ("case", 17, plus_address.READABLE))
        self.assertEqual(plus_address.read_tag(key, "case17-é")[2], plus_address.FORGED)
        self.assertIsNone(plus_address.read_tag(key, "newsletter"))
        self.assertIsNone(plus_address.read_tag(key, "case017"))
        self.assertEqual(split_plus("sales+lead42@x.example"), ("sales@x.example", "lead42"))
        self.assertEqual(split_plus("sales@x.example"), ("sales@x.example", ""))
        self.assertEqual(split_plus("+x@x.example"), ("+x@x.example", ""))
