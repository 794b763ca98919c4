# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The plain-Python parts of the access rules: addresses, thread tokens, domains."""

from odoo.tests import BaseCase, tagged
from odoo.tools import email_normalize

from ..lib.addresses import address_forms, domain_of, normalize_address
from ..lib.filters import domain_excluded, parse_domains
from ..lib.thread_token import make_message_id, read_message_id

KEY = b"k" * 32


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestAddresses(BaseCase):
    def test_same_as_odoo_email_normalize(self):
        for address in (
            "bob@example.org",
            "Bob@Example.ORG",
            " <Bob@Example.ORG> ",
            "Jörg@Bücher.de",
            "jörg@BÜCHER.de",
            "x@xn--bcher-kva.de",
            "ÉLODIE@exAmple.com",
            "用户@例子.广告",
            '"quoted"@example.com',
        ):
            self.assertEqual(normalize_address(address), email_normalize(address), address)

    def test_forms_of_an_internationalised_domain(self):
        self.assertEqual(
            set(address_forms("jörg@bücher.de")), {"jörg@bücher.de", "jörg@xn--bcher-kva.de"}
        )
        self.assertEqual(
            set(address_forms("x@xn--bcher-kva.de")), {"x@xn--bcher-kva.de", "x@bücher.de"}
        )
        self.assertEqual(address_forms("plain@example.com"), ("plain@example.com",))
        self.assertEqual(address_forms(""), ())
        self.assertEqual(domain_of("x@bücher.de"), {"bücher.de", "xn--bcher-kva.de"})

    def test_excluded_domains_in_either_form(self):
        self.assertTrue(domain_excluded(["a@bücher.de"], ["xn--bcher-kva.de"]))
        self.assertTrue(domain_excluded(["a@xn--bcher-kva.de"], ["Bücher.de"]))
        self.assertTrue(domain_excluded(["a@mail.example.com"], ["@example.com"]))
        self.assertFalse(domain_excluded(["a@notexample.com"], ["example.com"]))
        self.assertFalse(domain_excluded(["a@example.com"], []))
        self.assertEqual(parse_domains(" a.example; b.example ,, "), ["a.example", "b.example"])


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestThreadTokens(BaseCase):
    def test_a_token_names_its_record(self):
        message_id = make_message_id(KEY, "crm.mail.case", 42, "example.com")
        self.assertTrue(message_id.startswith("<crm-"))
        self.assertTrue(message_id.endswith("@example.com>"))
        self.assertEqual(read_message_id(KEY, message_id), ("crm.mail.case", 42))
        self.assertEqual(read_message_id(KEY, f"  {message_id} "), ("crm.mail.case", 42))
        # Each mail gets its own nonce.
        self.assertNotEqual(message_id, make_message_id(KEY, "crm.mail.case", 42, "example.com"))

    def test_a_token_cannot_be_forged_or_moved(self):
        message_id = make_message_id(KEY, "crm.lead", 7, "example.com")
        self.assertIsNone(read_message_id(b"another key" * 3, message_id))
        # The same tag on another record, or a changed tag, is refused.
        self.assertIsNone(read_message_id(KEY, message_id.replace("-7-crm.lead", "-8-crm.lead")))
        self.assertIsNone(read_message_id(KEY, message_id.replace("crm.lead", "res.partner")))
        nonce_end = len("<crm-") + 16 + 1
        tag = message_id[nonce_end : nonce_end + 16]
        forged = message_id.replace(tag, ("0" if tag[0] != "0" else "1") + tag[1:])
        self.assertIsNone(read_message_id(KEY, forged))
        for other in ("<abc@example.com>", "", None, "<crm-zz@x>"):
            self.assertIsNone(read_message_id(KEY, other))
