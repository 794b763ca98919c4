# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import contextlib
import random
import time
from datetime import datetime, timedelta, timezone

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.mime import (
    MessageParseError,
    decode_bytes,
    decode_header_value,
    extract_addresses,
    html_to_text,
    normalize_address,
    parse_message,
    text_to_html,
)

from . import mail_corpus

MB = 1024 * 1024


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMimeParser(BaseCase):
    """The parser on well-formed, broken and hostile mail (no database needed)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.corpus = mail_corpus.malformed_corpus()

    def parse(self, name, cap=MB):
        return parse_message(self.corpus[name], max_attachment_size=cap)

    def assert_warned(self, parsed, *fragments):
        """Assert one warning holds all ``fragments``."""
        self.assertTrue(
            any(all(fragment in warning for fragment in fragments) for warning in parsed.warnings),
            f"no warning with {fragments} in {parsed.warnings}",
        )

    # ------------------------------------------------------------------
    # Well-formed mail
    # ------------------------------------------------------------------

    def test_simple_message(self):
        parsed = parse_message(
            mail_corpus.simple_message(
                message_id="<a@b>",
                sender="Alice <Alice@Example.COM>",
                to="x@y.org, Z <z@y.org>",
                date=datetime(2024, 5, 6, 8, 0),
                extra_headers=["Cc: z@y.org, W <w@y.org>", "References: <r1@x> <r2@x>"],
            )
        )
        self.assertEqual(parsed.message_id, "<a@b>")
        self.assertEqual(parsed.email_from, "Alice <Alice@Example.COM>")
        self.assertEqual(parsed.from_address, "alice@example.com")
        self.assertEqual(parsed.email_to, "x@y.org, Z <z@y.org>")
        self.assertEqual(parsed.to_addresses, ["x@y.org", "z@y.org"])
        # Already a To recipient: not repeated among the Cc addresses.
        self.assertEqual(parsed.cc_addresses, ["w@y.org"])
        self.assertEqual(parsed.references, ["<r1@x>", "<r2@x>"])
        self.assertEqual(parsed.date, datetime(2024, 5, 6, 8, 0))
        self.assertEqual(parsed.body_text, "Hi")
        self.assertEqual(parsed.body_html, "<p>Hi</p>")
        self.assertEqual(parsed.warnings, [])
        self.assertFalse(parsed.is_auto_submitted)

    def test_date_is_naive_utc(self):
        paris = timezone(timedelta(hours=2))
        raw = mail_corpus.simple_message(date=datetime(2024, 5, 6, 10, 0, tzinfo=paris))
        self.assertIn(b"+0200", raw)
        parsed = parse_message(raw)
        self.assertEqual(parsed.date, datetime(2024, 5, 6, 8, 0))
        self.assertIsNone(parsed.date.tzinfo)
        bad = parse_message(b"From: a@b.example\r\nDate: someday soon\r\n\r\nx")
        self.assertIsNone(bad.date)
        self.assert_warned(bad, "unreadable Date")
        overflow = parse_message(
            b"From: a@b.example\r\nDate: Fri, 31 Dec 9999 23:59:59 -1200\r\n\r\nx"
        )
        self.assertIsNone(overflow.date)

    def test_many_messages_parse_cleanly_and_fast(self):
        messages = mail_corpus.many_messages(300, seed=11)
        self.assertEqual(messages, mail_corpus.many_messages(300, seed=11))  # deterministic
        start = time.perf_counter()
        parsed = [parse_message(raw) for raw in messages]
        elapsed = time.perf_counter() - start
        self.assertEqual(len({p.message_id for p in parsed}), 300)
        self.assertGreater(len({p.from_address for p in parsed}), 100)
        self.assertGreater(len({p.from_address.split("@")[1] for p in parsed}), 30)
        for message in parsed:
            self.assertEqual(message.warnings, [])
            self.assertNotIn("=?", message.subject + message.email_from)
            self.assertTrue(message.body_text and message.body_html)
            self.assertNotIn("<", message.body_text)
        self.assertTrue(any(p.attachments for p in parsed))
        self.assertTrue(any("<b>" in p.body_html for p in parsed))
        # Typically ~0.2 ms a message; the bound only catches an accidental slow path.
        self.assertLess(elapsed / len(messages), 0.005)

    def test_auto_submitted_and_headers(self):
        def parsed_with(*headers):
            return parse_message(mail_corpus.simple_message(extra_headers=list(headers)))

        self.assertTrue(parsed_with("Auto-Submitted: auto-replied").is_auto_submitted)
        self.assertFalse(parsed_with("Auto-Submitted: no").is_auto_submitted)
        self.assertTrue(parsed_with("Precedence: bulk").is_auto_submitted)
        self.assertTrue(parsed_with("Precedence: list").is_auto_submitted)
        self.assertTrue(parsed_with("X-Autoreply: yes").is_auto_submitted)
        self.assertTrue(parsed_with("X-Autorespond: whatever").is_auto_submitted)
        self.assertFalse(parsed_with("Precedence: first-class").is_auto_submitted)
        parsed = parsed_with(
            "List-Id: Sales <sales.lists.example>",
            "Return-Path: <>",
            "Delivered-To: support@crm-mail-sync.test",
        )
        self.assertEqual(parsed.headers["list-id"], "Sales <sales.lists.example>")
        self.assertEqual(parsed.headers["return-path"], "<>")
        self.assertEqual(parsed.headers["delivered-to"], "support@crm-mail-sync.test")
        self.assertEqual(parsed.headers["auto-submitted"], "")
        self.assertIn("return-path", parsed.headers["_present"])
        self.assertEqual(parsed.headers["content-type"], "text/plain")

    def test_references_keep_root_and_latest(self):
        ids = " ".join(f"<r{index}@x>" for index in range(150))
        parsed = parse_message(mail_corpus.simple_message(extra_headers=[f"References: {ids}"]))
        self.assertEqual(len(parsed.references), 100)
        self.assertEqual(parsed.references[0], "<r0@x>")
        self.assertEqual(parsed.references[-1], "<r149@x>")
        bare = parse_message(
            mail_corpus.simple_message(extra_headers=["In-Reply-To: parent@x (Bob's mail)"])
        )
        self.assertEqual(bare.in_reply_to, "<parent@x>")

    # ------------------------------------------------------------------
    # The malformed corpus, entry by entry
    # ------------------------------------------------------------------

    def test_every_corpus_entry_parses_or_raises_cleanly(self):
        for name, raw in self.corpus.items():
            with self.subTest(name=name):
                try:
                    parsed = parse_message(raw, max_attachment_size=MB)
                except MessageParseError:
                    continue
                self.assertIsInstance(parsed.body_text, str)
                self.assertIsInstance(parsed.body_html, str)
                self.assertEqual(parsed.size, len(raw))
                self.assertEqual(len(parsed.warnings), len(set(parsed.warnings)))

    def test_broken_boundary(self):
        parsed = self.parse("broken_boundary")
        self.assertEqual(parsed.body_text, "first part\n\nsecond part, no closing boundary")
        self.assert_warned(parsed, "closing MIME boundary")

    def test_bad_base64(self):
        parsed = self.parse("bad_base64")
        self.assertEqual(parsed.body_text, "Hello world")
        self.assert_warned(parsed, "invalid base64")

    def test_bad_quoted_printable(self):
        parsed = self.parse("bad_quoted_printable")
        self.assertTrue(parsed.body_text.startswith("Café =ZZ broken soft break"))

    def test_unknown_charset(self):
        parsed = self.parse("unknown_charset")
        self.assertEqual(parsed.body_text, "Café crème")
        self.assert_warned(parsed, "unknown charset 'x-no-such-charset'", "decoded as utf-8")

    def test_wrong_charset_latin1_declared_utf8(self):
        parsed = self.parse("wrong_charset_latin1_declared_utf8")
        self.assertEqual(parsed.body_text, "Café crème brûlée")
        self.assert_warned(parsed, "not valid utf-8", "windows-1252")

    def test_codec_name_as_charset(self):
        # "zlib" is a Python codec but not a charset: it must not be used, nor crash.
        parsed = self.parse("bogus_codec_charset")
        self.assertEqual(parsed.body_text, "Résumé attached")
        self.assert_warned(parsed, "unknown charset 'zlib'")

    def test_latin1_label_decodes_windows_1252_quotes(self):
        parsed = self.parse("latin1_declared_cp1252_quotes")
        self.assertEqual(parsed.body_text, "\u201cQuoted\u201d \u20ac price")
        self.assertEqual(parsed.warnings, [])

    def test_seven_bit_charset_is_not_read_as_ascii(self):
        parsed = self.parse("iso_2022_jp")
        self.assertEqual(parsed.subject, "テスト")
        self.assertEqual(parsed.body_text, "テストです")

    def test_missing_content_type(self):
        parsed = self.parse("missing_content_type")
        self.assertEqual(parsed.body_text, "Grüße aus München")
        self.assert_warned(parsed, "8-bit", "windows-1252")

    def test_rfc2047_subject_and_from(self):
        parsed = self.parse("rfc2047_subject_and_from")
        self.assertEqual(parsed.subject, "Žluťoučký kůň žluťoučký")
        self.assertEqual(parsed.email_from, "Ondřej Dvořák <ondrej@example.cz>")
        self.assertEqual(parsed.from_address, "ondrej@example.cz")
        self.assertEqual(parsed.body_text, "Dobrý den")

    def test_malformed_encoded_words(self):
        parsed = self.parse("malformed_encoded_words")
        # Unpadded base64 repaired, a broken word kept literally, the rest decoded.
        self.assertEqual(parsed.subject, "Hello wörld =?utf-8?B?x?= end")
        self.assert_warned(parsed, "malformed encoded word", "Subject")
        self.assertEqual(parsed.email_from, "Café Owner <owner@cafe.example>")
        self.assert_warned(parsed, "unknown charset 'x-bogus'", "From")

    def test_encoded_name_cannot_smuggle_an_address(self):
        parsed = self.parse("encoded_display_name_spoof")
        self.assertEqual(parsed.from_address, "attacker@evil.example")
        # The decoded name is quoted: re-parsing the display string finds the real sender.
        self.assertEqual(
            parsed.email_from,
            '"boss@ourcompany.example <boss@ourcompany.example>" <attacker@evil.example>',
        )
        self.assertEqual(extract_addresses(parsed.email_from), ["attacker@evil.example"])
        self.assertEqual(parsed.email_to, '"Doe, John" <john@customer.example>')
        self.assertEqual(parsed.to_addresses, ["john@customer.example"])

    def test_rfc2231_filename(self):
        parsed = self.parse("rfc2231_filename")
        self.assertEqual([att.name for att in parsed.attachments], ["žádost.txt"])
        self.assertEqual(parsed.attachments[0].content, b"hello")
        self.assertEqual(parsed.attachments[0].mimetype, "application/octet-stream")
        self.assertEqual(parsed.body_text, "see attachment")

    def test_missing_date_and_from(self):
        parsed = self.parse("missing_date_and_from")
        self.assertIsNone(parsed.date)
        self.assertEqual(parsed.email_from, "")
        self.assertEqual(parsed.from_address, "")
        self.assertIn("no Date header", parsed.warnings)
        self.assertIn("no sender address", parsed.warnings)
        self.assertEqual(parsed.body_text, "Who sent this?")

    def test_eight_bit_headers(self):
        parsed = self.parse("eight_bit_headers")
        self.assertEqual(parsed.subject, "Résumé à revoir")
        self.assertEqual(parsed.email_from, "François <francois@example.fr>")
        self.assert_warned(parsed, "Subject", "8-bit", "windows-1252")

    def test_eight_bit_in_message_id_and_date(self):
        parsed = self.parse("eight_bit_structural_headers")
        self.assertEqual(parsed.message_id, "<café@corpus.example>")
        self.assertEqual(parsed.date, datetime(2024, 5, 6, 8, 0))
        self.assertEqual(parsed.body_text, "body")

    def test_utf8_headers_are_not_a_problem(self):
        raw = "From: Łukasz <l@x.example>\r\nSubject: Zażółć\r\n\r\nbody".encode()
        parsed = parse_message(raw)
        self.assertEqual(parsed.subject, "Zażółć")
        self.assertEqual(parsed.email_from, "Łukasz <l@x.example>")
        self.assertEqual(parsed.warnings, ["no Date header"])

    def test_garbage_header_line(self):
        parsed = self.parse("garbage_header_line")
        # The line would otherwise end the headers and push Subject into the body.
        self.assertEqual(parsed.subject, "After the garbage")
        self.assertEqual(parsed.body_text, "body after garbage")
        self.assert_warned(parsed, "malformed header line")

    def test_multipart_without_boundary(self):
        parsed = self.parse("multipart_without_boundary")
        self.assertEqual(parsed.body_text, "Just text despite the multipart type")
        self.assertEqual(parsed.attachments, [])
        self.assert_warned(parsed, "without a boundary")

    def test_huge_attachment_is_dropped_with_a_note(self):
        parsed = self.parse("huge_attachment")
        self.assertEqual(len(parsed.attachments), 1)
        big = parsed.attachments[0]
        self.assertEqual(big.name, "big.bin")
        self.assertTrue(big.truncated)
        self.assertEqual(big.content, b"")
        self.assertAlmostEqual(big.size / MB, 3.0, delta=0.05)
        self.assertTrue(parsed.body_text.startswith("see the big file"))
        self.assertIn("not stored", parsed.body_text)
        self.assertIn("big.bin (3.0 MB)", parsed.body_text)
        self.assertIn("<p><em>[Attachment not stored", parsed.body_html)
        self.assert_warned(parsed, "'big.bin' (3.0 MB) exceeds the 1.0 MB cap")
        uncapped = self.parse("huge_attachment", cap=0)
        self.assertFalse(uncapped.attachments[0].truncated)
        self.assertEqual(len(uncapped.attachments[0].content), uncapped.attachments[0].size)
        self.assertNotIn("not stored", uncapped.body_text)

    def test_nested_message_is_an_attachment(self):
        parsed = self.parse("nested_rfc822")
        self.assertEqual([att.name for att in parsed.attachments], ["Inner message.eml"])
        self.assertEqual(parsed.attachments[0].mimetype, "message/rfc822")
        self.assertEqual(parsed.body_text, "outer body text")
        self.assertIn(b"inner body text", parsed.attachments[0].content)
        inner = parse_message(parsed.attachments[0].content)
        self.assertEqual(inner.subject, "Inner message")

    def test_base64_nested_message(self):
        parsed = self.parse("nested_rfc822_base64")
        self.assertEqual([att.name for att in parsed.attachments], ["Encoded inner.eml"])
        self.assertEqual(
            parse_message(parsed.attachments[0].content).body_text, "encoded inner body"
        )
        self.assertNotIn("encoded inner body", parsed.body_text)

    def test_delivery_status_report(self):
        parsed = self.parse("delivery_status_report")
        self.assertTrue(parsed.is_auto_submitted)
        self.assertEqual(parsed.headers["content-type"], "multipart/report")
        self.assertEqual(parsed.body_text, "Your message could not be delivered.")
        names = [att.name for att in parsed.attachments]
        self.assertEqual(names, ["delivery-status.txt", "original-headers.txt"])
        self.assertIn(b"Action: failed", parsed.attachments[0].content)

    def test_multipart_alternative(self):
        parsed = self.parse("multipart_alternative")
        self.assertEqual(parsed.body_text, "plain version")
        self.assertEqual(parsed.body_html, "<p>html <b>version</b></p>")

    def test_html_only_with_script(self):
        parsed = self.parse("html_only_with_script")
        # Not sanitised here: that is the ORM's job (html_sanitize on write).
        self.assertIn("<script>alert(document.cookie)</script>", parsed.body_html)
        self.assertIn('onerror="alert(1)"', parsed.body_html)
        self.assertIn("javascript:alert(2)", parsed.body_html)
        self.assertEqual(parsed.body_text, "Hello\nclick\nstyled")

    def test_inline_image_with_content_id(self):
        parsed = self.parse("inline_image_cid")
        self.assertEqual(len(parsed.attachments), 2)
        shown, unused = parsed.attachments
        self.assertEqual(shown.content_id, "logo123@corpus.example")
        self.assertTrue(shown.inline)
        self.assertEqual(shown.content, mail_corpus.PNG_PIXEL)
        self.assertEqual(shown.mimetype, "image/png")
        # Not referenced by the HTML: a visible attachment, or nobody would see it.
        self.assertEqual(unused.content_id, "unused@corpus.example")
        self.assertFalse(unused.inline)
        self.assertIn('src="cid:logo123@corpus.example"', parsed.body_html)
        self.assertEqual(parsed.body_text, "Our logo:")

    def test_glued_base64(self):
        parsed = self.parse("glued_base64")
        self.assertEqual(parsed.attachments[0].content, b"hello world!")
        self.assertEqual(parsed.attachments[0].name, "glued.txt")
        self.assertEqual(parsed.warnings, [])

    def test_no_message_id_and_empty_body(self):
        self.assertEqual(self.parse("no_message_id").message_id, "")
        self.assertEqual(self.parse("no_message_id").subject, "Without id")
        empty = self.parse("empty_body")
        self.assertEqual((empty.body_text, empty.body_html, empty.attachments), ("", "", []))

    def test_binary_garbage(self):
        parsed = self.parse("binary_garbage")
        self.assertEqual(parsed.subject, "garbage")
        self.assertTrue(parsed.body_text)
        self.assert_warned(parsed, "8-bit")

    # ------------------------------------------------------------------
    # Unusable and hostile input
    # ------------------------------------------------------------------

    def test_unusable_input_raises(self):
        for raw in (b"", b"   \r\n", b"\x00\x01\x02 no headers at all", "text", None):
            with self.subTest(raw=raw), self.assertRaises(MessageParseError):
                parse_message(raw)
        rng = random.Random(3)
        for _attempt in range(200):
            with contextlib.suppress(MessageParseError):
                parse_message(rng.randbytes(rng.randrange(1, 2000)))

    def test_mutated_corpus_never_crashes(self):
        # Deterministic fuzzing: cut, splice and flip bytes of every corpus entry.
        rng = random.Random(42)
        tokens = [b"=?", b"?=", b"=?utf-8?b?", b"\r\n", b"--", b'"', b";", b"\xff", b"\x00"]
        seeds = [raw for raw in self.corpus.values() if len(raw) < 100_000]
        for _attempt in range(600):
            raw = bytearray(rng.choice(seeds))
            for _edit in range(rng.randint(1, 6)):
                position = rng.randrange(len(raw) + 1)
                action = rng.random()
                if action < 0.4:
                    raw[position:position] = rng.choice(tokens)
                elif action < 0.7:
                    del raw[position : position + rng.randint(1, 40)]
                elif action < 0.9 and raw:
                    raw[min(position, len(raw) - 1)] = rng.randrange(256)
                else:
                    del raw[position:]
            try:
                parsed = parse_message(bytes(raw), max_attachment_size=rng.choice([0, 100]))
            except MessageParseError:
                continue
            self.assertIsInstance(parsed.body_text, str)

    def test_hostile_input_stays_linear(self):
        # Each used to take seconds with backtracking regular expressions.
        hostile = [
            b"From: a" + b" " * 100_000 + b"x\r\n\r\nx",
            b"Subject: " + b"=?utf-8?q?abc " * 7000 + b"\r\n\r\nx",
            b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + b"<script" * 15000,
            b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + b"<!--" * 25000,
            b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + b"<" * 100_000,
        ]
        for raw in hostile:
            start = time.perf_counter()
            parse_message(raw)
            self.assertLess(time.perf_counter() - start, 1.0)

    # ------------------------------------------------------------------
    # Helpers used by other modules
    # ------------------------------------------------------------------

    def test_addresses(self):
        self.assertEqual(normalize_address(" <Bob@Example.ORG> "), "bob@example.org")
        self.assertEqual(normalize_address("mailto:Bob@Example.ORG"), "bob@example.org")
        self.assertEqual(normalize_address("John Doe john@x.org"), "john@x.org")
        self.assertEqual(normalize_address("x@example.com."), "x@example.com")
        self.assertEqual(normalize_address("not an address"), "")
        self.assertEqual(normalize_address("a@b@c"), "")
        self.assertEqual(normalize_address(None), "")
        # As Odoo's email_normalize stores it: an internationalised domain as written.
        self.assertEqual(normalize_address("x@Bücher.example"), "x@bücher.example")
        self.assertEqual(normalize_address("Jörg@Bücher.de"), "Jörg@bücher.de")
        self.assertEqual(
            extract_addresses('"Doe, John" <J@x.org>, j@x.org, bad, k@y.org'),
            ["j@x.org", "k@y.org"],
        )
        self.assertEqual(extract_addresses(""), [])

    def test_display_of_unusual_address_headers(self):
        raw = (
            b"From: Mailer Daemon\r\nTo: undisclosed-recipients:;\r\n"
            b"Cc: Team: a@x.example, b@x.example;\r\nSubject: s\r\n\r\nx"
        )
        parsed = parse_message(raw)
        self.assertEqual(parsed.email_from, "Mailer Daemon")
        self.assertEqual(parsed.from_address, "")
        self.assertEqual(parsed.email_to, "undisclosed-recipients:;")
        self.assertEqual(parsed.to_addresses, [])
        self.assertEqual(parsed.cc_addresses, ["a@x.example", "b@x.example"])

    def test_decode_bytes(self):
        warnings = []
        self.assertEqual(decode_bytes(b"abc", "x-whatever", warnings), "abc")
        self.assertEqual(warnings, [])  # ASCII reads the same in any charset
        self.assertEqual(decode_bytes("ž".encode("iso-8859-2"), "ISO-8859-2", warnings), "ž")
        self.assertEqual(decode_bytes("€".encode(), '"UTF-8"', warnings), "€")
        self.assertEqual(warnings, [])
        self.assertEqual(decode_bytes(b"\xe9", "idna", warnings), "é")
        self.assertEqual(decode_bytes(b"\xe9", "iso-8859-8-i", warnings), "י")
        self.assertIn("text declared as idna is not valid idna, decoded as windows-1252", warnings)
        # One broken byte in UTF-8 text: keep UTF-8, lose only that character.
        warnings = []
        self.assertEqual(
            decode_bytes("Zażółć ".encode() + b"\xff", "utf-8", warnings), "Zażółć \ufffd"
        )
        self.assertEqual(len(warnings), 1)
        self.assertIn("decoded as utf-8 (invalid bytes replaced)", warnings[0])

    def test_decode_header_value(self):
        self.assertEqual(decode_header_value(None), "")
        self.assertEqual(decode_header_value("a\r\n  b\r\n\tc"), "a b c")
        # Whitespace between encoded words goes, a split multi-byte character joins.
        self.assertEqual(decode_header_value("=?utf-8?q?=C5?= =?utf-8?q?=BD?=lu"), "Žlu")
        self.assertEqual(decode_header_value("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c")
        self.assertEqual(decode_header_value("=?UTF-8*en?Q?Hi?="), "Hi")

    def test_html_text_conversions(self):
        self.assertEqual(
            html_to_text(
                "<html><head><title>T</title><style>p{}</style></head><body>"
                "<p>One &amp; two</p><!-- hidden --><div>three<br>four</div></body></html>"
            ),
            "One & two\n\nthree\nfour",
        )
        self.assertEqual(html_to_text("<p>a</p><script>unclosed"), "a")
        self.assertEqual(html_to_text("<head><meta charset=utf-8><body>kept"), "kept")
        self.assertEqual(
            text_to_html("<b>x</b> & y\n\nsecond\nline"),
            "<p>&lt;b&gt;x&lt;/b&gt; &amp; y</p><p>second<br>line</p>",
        )
