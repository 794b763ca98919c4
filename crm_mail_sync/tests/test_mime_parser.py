# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.mime_parser import (
    MessageParseError,
    extract_addresses,
    normalize_address,
    parse_message,
)

from . import mail_corpus


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMimeParser(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.corpus = mail_corpus.malformed_corpus()

    def parse(self, name, cap=1024 * 1024):
        return parse_message(self.corpus[name], max_attachment_size=cap)

    def test_simple_message(self):
        parsed = parse_message(
            mail_corpus.simple_message(
                message_id="<a@b>", sender="Alice <Alice@Example.COM>", to="x@y.org, Z <z@y.org>"
            )
        )
        self.assertEqual(parsed.message_id, "<a@b>")
        self.assertEqual(parsed.from_address, "alice@example.com")
        self.assertEqual(parsed.to_addresses, ["x@y.org", "z@y.org"])
        self.assertEqual(parsed.body_text, "Hi")
        self.assertIn("<p>Hi</p>", parsed.body_html)
        self.assertTrue(parsed.date)
        self.assertFalse(parsed.warnings)

    def test_rfc2047_headers_are_decoded(self):
        parsed = self.parse("rfc2047_subject_and_from")
        self.assertEqual(parsed.subject, "Žluťoučký kůň žluťoučký")
        self.assertIn("Ondřej Dvořák", parsed.email_from)
        self.assertEqual(parsed.from_address, "ondrej@example.cz")

    def test_rfc2231_filename(self):
        parsed = self.parse("rfc2231_filename")
        self.assertEqual([att.name for att in parsed.attachments], ["žádost.txt"])
        self.assertEqual(parsed.attachments[0].content, b"hello")

    def test_charset_fallbacks_warn(self):
        latin = self.parse("wrong_charset_latin1_declared_utf8")
        self.assertIn("Café crème brûlée", latin.body_text)
        self.assertTrue(any("utf-8" in w for w in latin.warnings))
        unknown = self.parse("unknown_charset")
        self.assertIn("Café crème", unknown.body_text)
        self.assertTrue(any("x-no-such-charset" in w for w in unknown.warnings))

    def test_eight_bit_headers(self):
        parsed = self.parse("eight_bit_headers")
        self.assertEqual(parsed.subject, "Résumé à revoir")
        self.assertIn("François", parsed.email_from)

    def test_missing_date_and_from(self):
        parsed = self.parse("missing_date_and_from")
        self.assertIsNone(parsed.date)
        self.assertEqual(parsed.from_address, "")
        self.assertIn("no Date header", parsed.warnings)

    def test_huge_attachment_is_dropped_with_a_note(self):
        parsed = self.parse("huge_attachment")
        big = [att for att in parsed.attachments if att.name == "big.bin"][0]
        self.assertTrue(big.truncated)
        self.assertEqual(big.content, b"")
        self.assertGreater(big.size, 1024 * 1024)
        self.assertIn("big.bin", parsed.body_text)
        self.assertIn("size cap", parsed.body_html)
        self.assertTrue(any("cap" in w for w in parsed.warnings))
        uncapped = self.parse("huge_attachment", cap=0)
        self.assertFalse(uncapped.attachments[0].truncated)

    def test_nested_message_is_an_attachment(self):
        parsed = self.parse("nested_rfc822")
        self.assertEqual([att.name for att in parsed.attachments], ["Inner message.eml"])
        self.assertIn("outer body text", parsed.body_text)
        self.assertNotIn("inner body text", parsed.body_text)
        self.assertIn(b"inner body text", parsed.attachments[0].content)

    def test_multipart_alternative_keeps_both_versions(self):
        parsed = self.parse("multipart_alternative")
        self.assertEqual(parsed.body_text, "plain version")
        self.assertIn("<b>version</b>", parsed.body_html)

    def test_html_only_gets_a_text_body(self):
        parsed = self.parse("html_only_with_script")
        self.assertIn("<script>", parsed.body_html)  # sanitising is the ORM's job
        self.assertIn("Hello", parsed.body_text)
        self.assertNotIn("<", parsed.body_text)
        self.assertNotIn("alert(document", parsed.body_text)

    def test_broken_structures_still_parse(self):
        broken = self.parse("broken_boundary")
        self.assertIn("first part", broken.body_text)
        self.assertTrue(broken.warnings)
        bad64 = self.parse("bad_base64")
        self.assertTrue(bad64.body_text)
        garbage = self.parse("binary_garbage")
        self.assertEqual(garbage.subject, "garbage")

    def test_no_message_id_and_empty_body(self):
        self.assertEqual(self.parse("no_message_id").message_id, "")
        self.assertEqual(self.parse("empty_body").body_text, "")

    def test_unusable_input_raises(self):
        for raw in (b"", b"   \r\n", b"\x00\x01\x02 no headers at all"):
            with self.assertRaises(MessageParseError):
                parse_message(raw)

    def test_every_corpus_entry_parses_or_raises_cleanly(self):
        for name, raw in self.corpus.items():
            with self.subTest(name=name):
                try:
                    parsed = parse_message(raw, max_attachment_size=1024 * 1024)
                except MessageParseError:
                    continue
                self.assertIsInstance(parsed.body_text, str)
                self.assertEqual(parsed.size, len(raw))

    def test_addresses(self):
        self.assertEqual(normalize_address(" <Bob@Example.ORG> "), "bob@example.org")
        self.assertEqual(normalize_address("not an address"), "")
        self.assertEqual(normalize_address("x@bücher.example"), "x@xn--bcher-kva.example")
        self.assertEqual(
            extract_addresses('"Doe, John" <J@x.org>, j@x.org, bad, k@y.org'),
            ["j@x.org", "k@y.org"],
        )

    def test_auto_submitted(self):
        auto = parse_message(
            mail_corpus.simple_message(extra_headers=["Auto-Submitted: auto-replied"])
        )
        self.assertTrue(auto.is_auto_submitted)
        self.assertFalse(parse_message(mail_corpus.simple_message()).is_auto_submitted)
