# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import email.feedparser
import random
import re
import time
from email import message_from_bytes
from email.policy import compat32

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.mime import (
    EXPOSED_HEADERS,
    MAX_HEADER_LENGTH,
    MAX_HEADERS,
    MAX_MIME_DEPTH,
    auto_reply_blocker,
    automatic_reason,
    parse_message,
)
from odoo.addons.crm_mail_sync.lib.mime import parser as mime_parser

from . import mail_corpus


def message(*headers, sender="carl@customer.example", body="Hello"):
    """Build a small message: ``headers`` go before the usual ones, as bytes or str."""
    lines = [line if isinstance(line, bytes) else line.encode() for line in headers]
    if sender:
        lines.append(f"From: {sender}".encode())
    lines += [
        b"To: support@crm-mail-sync.test",
        b"Subject: Question",
        b"Date: Mon, 06 May 2024 10:00:00 +0200",
        b"Message-ID: <question@customer.example>",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body.encode() + b"\r\n"


def nested(levels):
    """A message whose innermost text sits ``levels`` multipart levels deep."""
    inner = b"Content-Type: text/plain\r\n\r\nthe innermost body"
    return b"From: carl@customer.example\r\n" + mail_corpus.nested_multipart(inner, levels)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMimePackage(BaseCase):
    """The parser package's own promises: all headers, one depth limit, one
    automatic-mail detection (no database needed)."""

    # ------------------------------------------------------------------
    # All headers
    # ------------------------------------------------------------------

    def test_all_headers_in_order_and_decoded(self):
        raw = (
            b"Received: from a.example by b.example; Mon, 6 May 2024 10:00:00 +0200\r\n"
            b"Received: from c.example\r\n\tby a.example; Mon, 6 May 2024 09:59:00 +0200\r\n"
            b"From: =?utf-8?q?Ren=C3=A9e?= <renee@customer.example>\r\n"
            b"Subject: =?iso-8859-1?q?caf=E9?= ok\r\n"
            + "X-Greeting: Grüße\r\n".encode()
            + b"x-lower-case: kept as written\r\n"
            b"X-Latin: caf\xe9\r\n"
            b"X-Empty:\r\n"
            b"Date: Mon, 06 May 2024 10:00:00 +0200\r\n"
            b"\r\nbody\r\n"
        )
        parsed = parse_message(raw)
        self.assertEqual(
            parsed.all_headers,
            [
                ("Received", "from a.example by b.example; Mon, 6 May 2024 10:00:00 +0200"),
                ("Received", "from c.example by a.example; Mon, 6 May 2024 09:59:00 +0200"),
                ("From", "Renée <renee@customer.example>"),
                ("Subject", "café ok"),
                ("X-Greeting", "Grüße"),
                ("x-lower-case", "kept as written"),
                ("X-Latin", "café"),
                ("X-Empty", ""),
                ("Date", "Mon, 06 May 2024 10:00:00 +0200"),
            ],
        )
        # A header that nothing else reads makes no warning, however it is encoded.
        self.assertEqual(parsed.warnings, [])
        # The selection of headers the checks use is as it was.
        self.assertEqual(set(parsed.headers), {*EXPOSED_HEADERS, "_present", "content-type"})
        self.assertEqual(parsed.subject, "café ok")

    def test_all_headers_are_bounded(self):
        raw = message(
            "X-Long: " + "a" * (4 * MAX_HEADER_LENGTH),
            *(f"X-Header-{n}: value {n}" for n in range(MAX_HEADERS + 100)),
        )
        started = time.perf_counter()
        parsed = parse_message(raw)
        self.assertLess(time.perf_counter() - started, 1.0)
        self.assertEqual(len(parsed.all_headers), MAX_HEADERS)
        self.assertEqual(parsed.all_headers[0], ("X-Long", "a" * MAX_HEADER_LENGTH))
        self.assertEqual(parsed.all_headers[1], ("X-Header-0", "value 0"))
        self.assertEqual(parsed.all_headers[-1][0], f"X-Header-{MAX_HEADERS - 2}")
        # The headers past the cut are still parsed as usual.
        self.assertEqual(parsed.from_address, "carl@customer.example")

    # ------------------------------------------------------------------
    # One depth limit
    # ------------------------------------------------------------------

    def test_one_depth_limit(self):
        self.assertEqual(MAX_MIME_DEPTH, 40)
        # Deeper than the body walk used to go (30), within the parser's limit: all read.
        parsed = parse_message(nested(MAX_MIME_DEPTH - 5))
        self.assertIn("the innermost body", parsed.body_text)
        self.assertIn("level 1 text", parsed.body_text)
        self.assertFalse([w for w in parsed.warnings if "nested" in w], parsed.warnings)
        # Beyond it: every level the parser read is in the body, the rest kept as text.
        depth = MAX_MIME_DEPTH + 5
        parsed = parse_message(nested(depth))
        self.assertIn(
            f"MIME structure nested more than {MAX_MIME_DEPTH} levels deep; "
            "the deeper parts were kept unparsed",
            parsed.warnings,
        )
        self.assertFalse([w for w in parsed.warnings if "inner parts ignored" in w])
        unparsed = depth - MAX_MIME_DEPTH  # the outermost level is at depth 0
        self.assertIn(f"level {unparsed + 1} text", parsed.body_text)
        self.assertNotIn(f"--L{unparsed + 1}", parsed.body_text)
        self.assertIn(f"--L{unparsed}", parsed.body_text)
        self.assertIn("the innermost body", parsed.body_text)

    # ------------------------------------------------------------------
    # One automatic-mail detection
    # ------------------------------------------------------------------

    def test_every_automatic_reason(self):
        cases = [
            ((), {}, None),
            (("Auto-Submitted: no",), {}, None),
            (("Auto-Submitted: Auto-Generated",), {}, "Auto-Submitted: auto-generated"),
            (("Precedence: bulk",), {}, "Precedence: bulk"),
            (("Precedence: junk",), {}, "Precedence: junk"),
            (("Precedence: first-class",), {}, None),
            (("List-Id: <news.customer.example>",), {}, "mailing list"),
            (("List-Unsubscribe: <mailto:u@customer.example>",), {}, "mailing list"),
            (("X-Auto-Response-Suppress: All",), {}, "X-Auto-Response-Suppress"),
            (("X-Loop: helpdesk",), {}, "X-Loop"),
            (("X-Autoreply: yes",), {}, "automatic reply"),
            (("X-Autorespond: whatever",), {}, "automatic reply"),
            (("Return-Path: <>",), {}, "empty Return-Path (a bounce)"),
            (
                ('Content-Type: multipart/report; report-type=delivery-status; boundary="R"',),
                {"body": "--R\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n--R--"},
                "delivery status report",
            ),
            ((), {"sender": ""}, "no sender address"),
            ((), {"sender": "MAILER-DAEMON@customer.example"}, "robot sender"),
            ((), {"sender": "no-reply@customer.example"}, "robot sender"),
            ((), {"sender": "postmaster@customer.example"}, "robot sender"),
            ((), {"sender": "noreply.info@customer.example"}, "robot sender"),
            ((), {"sender": "daemonic@customer.example"}, None),
        ]
        submitted = ("Auto-Submitted", "Precedence", "automatic reply")
        for headers, options, reason in cases:
            with self.subTest(headers=headers, **options):
                parsed = parse_message(message(*headers, **options))
                self.assertEqual(automatic_reason(parsed), reason)
                self.assertEqual(auto_reply_blocker(parsed), reason or "")
                # Whether a program sent it is the first few of the same signs.
                sent_by_program = bool(reason) and reason.startswith(submitted)
                self.assertEqual(
                    automatic_reason(parsed, submitted_only=True),
                    reason if sent_by_program else None,
                )
                self.assertEqual(parsed.is_auto_submitted, sent_by_program)

    def test_each_caller_keeps_its_result(self):
        # A list's out-of-office reply: sent by a program, and no answer to a list.
        parsed = parse_message(message("List-Id: <news.customer.example>", "X-Autoreply: yes"))
        self.assertEqual(automatic_reason(parsed, submitted_only=True), "automatic reply")
        self.assertTrue(parsed.is_auto_submitted)
        self.assertEqual(auto_reply_blocker(parsed), "mailing list")
        # An empty X-Autoreply has always counted for cases, never for auto-replies.
        parsed = parse_message(message("X-Autoreply:"))
        self.assertTrue(parsed.is_auto_submitted)
        self.assertEqual(auto_reply_blocker(parsed), "")

    def test_boundaries_match_as_python_compiles_them(self):
        """The boundary matcher agrees with the pattern Python's parser compiles, on
        awkward boundaries and lines, and the standard module is left untouched."""
        self.assertIs(email.feedparser.re, re)
        suffix = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
        rnd = random.Random(5)
        alphabet = [chr(c) for c in range(32, 127)] + ["é", "\t", "\\"]
        boundaries = ["", "--", "a--", "=_x(1)+?*", "\\d.*"] + [
            "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 70))) for _ in range(300)
        ]
        for boundary in boundaries:
            separator = "--" + boundary
            pattern = "(?P<sep>" + re.escape(separator) + suffix
            compiled = re.compile(pattern)
            matcher = mime_parser._FeedParserRe.compile(pattern)
            self.assertIsInstance(matcher, mime_parser._BoundaryMatcher)
            for line in (
                separator,
                separator + "--",
                separator + "\r\n",
                separator + "-- \t\n",
                separator + "x\r\n",
                separator[:-1] + "\n",
                separator + "\n\n",
                "",
            ):
                expected, got = compiled.match(line), matcher.match(line)
                self.assertEqual(expected is None, got is None, (boundary, line))
                if expected:
                    self.assertEqual(
                        expected.group("end", "ws", "linesep"),
                        got.group("end", "ws", "linesep"),
                    )
        # Any other pattern is compiled as usual.
        self.assertIs(mime_parser._FeedParserRe.compile(r"\d+"), re.compile(r"\d+"))

    def test_multipart_parsed_as_python_parses_it(self):
        """Parts, preamble and epilogue come out as Python's own parser makes them."""

        def shape(message):
            return [
                (
                    part.get_content_type(),
                    None if part.is_multipart() else part.get_payload(),
                    part.preamble,
                    part.epilogue,
                )
                for part in message.walk()
            ]

        raws = mail_corpus.many_messages(60, seed=3, senders=10) + [
            nested(5),
            b'Content-Type: multipart/mixed; boundary="a.b(c)+"\r\n\r\npreamble\r\n'
            b"--a.b(c)+\r\n\r\none\r\n--a.b(c)+  \r\n\r\ntwo\r\n--a.b(c)+--\r\nepilogue",
        ]
        multipart = 0
        for raw in raws:
            ours, _flattened = mime_parser._parse_bytes(raw)
            theirs = message_from_bytes(raw, policy=compat32)
            self.assertEqual(shape(ours), shape(theirs))
            multipart += ours.is_multipart()
        self.assertGreater(multipart, 10)
