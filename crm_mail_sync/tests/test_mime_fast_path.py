# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The parser's fast input (``lib/mime/feedinput.py``) gives exactly what Python's
line-by-line input gives, and the fingerprint's canonical body what its line-by-line
definition gives: on the benchmark's corpora, CPython's test messages, broken and
hostile mail, and messages mutated around their boundaries and line breaks."""

import base64
import dataclasses
import random
import re
from email import message_from_bytes
from email.policy import compat32
from unittest.mock import patch

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib import fingerprint
from odoo.addons.crm_mail_sync.lib.mime import MessageParseError, feedinput, parse_message
from odoo.addons.crm_mail_sync.lib.mime import parser as mime_parser

from . import mail_corpus, test_hostile_input

_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)', re.I)
_DATA = base64.encodebytes(random.Random(1).randbytes(120_000)).replace(b"\n", b"\r\n")
_HEAD = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: s\r\n"


def awkward_messages():
    """Hand-made structures that a boundary search could get wrong."""
    messages = []
    for boundary in (b"", b"--", b"a", b"a.b(c)+", b"=_x", b"b b", b"\\d.*"):
        for eol in (b"\r\n", b"\n", b"\r"):
            body = eol.join(
                [
                    b"preamble",
                    b"--" + boundary,
                    b"Content-Type: text/plain",
                    b"",
                    b"one",
                    b"--" + boundary + b"x",
                    b" --" + boundary,
                    b"--" + boundary + b" \t",
                    b"",
                    b"two",
                    b"",
                    b"--" + boundary,
                    b"--" + boundary,
                    b'Content-Type: multipart/mixed; boundary="' + boundary + b'i"',
                    b"",
                    b"--" + boundary + b"i",
                    b"",
                    b"inner",
                    b"--" + boundary + b"i--",
                    b"inner epilogue",
                    b"--" + boundary + b"--",
                    b"epilogue",
                    b"",
                ]
            )
            head = _HEAD.replace(b"\r\n", eol)
            raw = head + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"'
            raw += eol + eol + body
            messages += [raw, raw[: -len(eol)], raw.replace(b"--" + boundary + b"--", b"")]
    # A large base64 body with boundary text in it, at line starts and elsewhere.
    middle = _DATA.find(b"\n", len(_DATA) // 2) + 1
    for inserted in (b"", b"--B\r\n", b"--Bx\r\n", b"--B--\r\n", b"x--B\r\n", b"--B \r\n"):
        for end in (b"--B--\r\n", b"--B--", b"", b"--B\r\n", b"--B--\r\nepilogue\r\n--B\r\n"):
            messages.append(
                _HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
                b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + _DATA[:middle]
                + inserted
                + _DATA[middle:]
                + end
            )
    # Boundaries that are prefixes of each other, the outer one inside an inner part.
    for outer, inner in ((b"a", b"ab"), (b"ab", b"a")):
        messages.append(
            _HEAD + b'Content-Type: multipart/mixed; boundary="' + outer + b'"\r\n\r\n--'
            b"" + outer + b'\r\nContent-Type: multipart/mixed; boundary="' + inner + b'"\r\n\r\n'
            b"--" + inner + b"\r\n\r\n" + _DATA[:4000] + b"--" + outer + b"\r\n\r\ny\r\n"
            b"--" + inner + b"--\r\n--" + outer + b"--\r\n"
        )
    messages += [
        b"From sender Mon Jan 1\r\n" + _HEAD + b"\r\nbody\r\nFrom x\r\n",
        _HEAD + b"From x\r\n\r\nbody\r\n",
        _HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nFrom x\r\n--B--\r\n",
        _HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n--B\r\n--B",
        _HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n\r\r\n--B--\r\n",
        _HEAD + b"Content-Type: message/delivery-status\r\n\r\nA: b\r\n\r\nC: d\r\n\r\n\r\n",
        _HEAD + b"Content-Type: multipart/report; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nA: b\r\n\r\nC: d\r\n"
        b"Content-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\n"
        + _DATA[:5000]
        + b"--B--\r\n",
        _HEAD + b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n" + _DATA[:5000],
        _HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\nnever\r\n" + _DATA[:5000],
    ]
    for levels in (5, 40, 41):
        inner = b"Content-Type: text/plain\r\n\r\n" + _DATA[:3000]
        messages.append(b"From: a@b.example\r\n" + mail_corpus.nested_multipart(inner, levels))
    return messages


def mutate(raw, rng):
    """``raw`` changed where boundaries and line breaks are: what fast paths get wrong."""
    position = rng.randrange(len(raw) + 1)
    line_start = raw.rfind(b"\n", 0, position) + 1
    boundary = rng.choice(_BOUNDARY.findall(raw) or [b"B"])
    lines = raw.splitlines(keepends=True) or [b""]
    index = rng.randrange(len(lines))
    operation = rng.randrange(10)
    if operation == 0:
        return raw[:position]
    if operation == 1:
        return b"".join(lines[:index] + lines[index + rng.randint(1, 3) :])
    if operation == 2:
        return b"".join(lines[: index + 1] + lines[index : index + 3] + lines[index + 1 :])
    if operation == 3:
        new = rng.choice((boundary + b"x", boundary[:-1], b"", b"--" + boundary, b"B"))
        return raw.replace(boundary, new, rng.choice((1, -1)))
    if operation == 4:
        endings = (b"\n", b"\r", b"\r\n", b"\n\r")
        return b"".join(
            line.rstrip(b"\r\n") + rng.choice(endings) if rng.random() < 0.3 else line
            for line in lines
        )
    if operation == 5:
        return raw.replace(b"--" + boundary + b"--", b"", 1)
    if operation == 6:
        piece = rng.choice((b"--", b"x--", b"")) + b"--" + boundary
        piece += rng.choice((b"", b"--", b" ", b"x", b"--x"))
        where = line_start if rng.random() < 0.5 else position
        return raw[:where] + piece + rng.choice((b"\r\n", b"\n", b"\r", b"")) + raw[where:]
    if operation == 7:
        return raw + rng.choice(
            (b"epilogue\r\n", b"\r\n\r\nmore\r\n", b"\n--" + boundary + b"--\n")
        )
    if operation == 8:
        outer = rng.choice((b"N", boundary + b"N", boundary[:-1] or b"M"))
        return (
            b'From: fwd@x.example\r\nContent-Type: multipart/mixed; boundary="' + outer + b'"'
            b"\r\n\r\npre\r\n--" + outer + b"\r\n" + raw + rng.choice((b"\r\n--" + outer, b""))
        )
    return (
        raw[:position]
        + rng.choice((b"\r", b"\n", b"\r\n\r\n", b" \r\n", b"\x0b\n"))
        + raw[position:]
    )


def tree(message):
    """Everything the parser puts into a message and its parts."""
    payload = message._payload
    return (
        message.get_unixfrom(),
        list(message.raw_items()),
        [type(defect).__name__ for defect in message.defects],
        message.preamble,
        message.epilogue,
        message.get_default_type(),
        [tree(part) for part in payload] if isinstance(payload, list) else payload,
    )


def canonical_body_by_lines(body):
    """The fingerprint's body, as first written: one line at a time."""
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return b"\n".join(lines)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMimeFastPath(BaseCase):
    """The fast input against Python's line-by-line one (``LINE_BY_LINE``) and against
    ``email.message_from_bytes``; the fingerprint against its definition."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        messages = [raw for kind in mail_corpus.CORPUS_KINDS for raw in cls._corpus(kind)]
        messages += [raw for _name, raw in mail_corpus.cpython_email_messages()]
        messages += list(mail_corpus.malformed_corpus().values())
        messages += awkward_messages()
        cls.messages = messages
        rng = random.Random(2718)
        seeds = [raw for raw in messages if len(raw) < 300_000]
        cls.mutated = []
        for _attempt in range(700):
            raw = rng.choice(seeds)
            for _edit in range(rng.randint(1, 4)):
                raw = mutate(raw, rng)
            cls.mutated.append(raw)
        cls.mutated += [test_hostile_input.fuzzed_message(rng) for _ in range(300)]

    @staticmethod
    def _corpus(kind):
        return mail_corpus.corpus(kind, 8 if kind == "attachments" else 40, seed=11)

    def _parsed(self, raw, line_by_line):
        # The .eml kept of a forwarded multipart without a boundary gets a random one.
        state = random.getstate()
        random.seed(0)
        try:
            with patch.object(mime_parser, "LINE_BY_LINE", line_by_line):
                try:
                    parsed = parse_message(raw, max_attachment_size=100_000, max_body_size=2000)
                except MessageParseError as exc:
                    return ("MessageParseError", str(exc))
                result = dataclasses.asdict(parsed)
                result["all_headers"] = parsed.all_headers
                return result, tree(mime_parser._parse_bytes(raw.lstrip(b"\r\n"))[0])
        finally:
            random.setstate(state)

    def assert_same_as_line_by_line(self, messages):
        for index, raw in enumerate(messages):
            fast, slow = self._parsed(raw, False), self._parsed(raw, True)
            # Not assertEqual: the diff of a few megabytes of mail takes minutes.
            self.assertTrue(fast == slow, f"message {index} parsed differently: {raw[:300]!r}")

    def test_messages_parse_as_line_by_line(self):
        self.assert_same_as_line_by_line(self.messages)

    def test_mutated_messages_parse_as_line_by_line(self):
        self.assert_same_as_line_by_line(self.mutated)

    def test_messages_parse_as_python_parses_them(self):
        """The whole tree (headers, payloads, preambles, epilogues, defects) is
        Python's own, for every message not nested too deep for it."""
        compared = 0
        for index, raw in enumerate(self.messages + self.mutated):
            ours, flattened = mime_parser._parse_bytes(raw)
            if flattened:
                continue
            theirs = message_from_bytes(raw, policy=compat32)
            same = tree(ours) == tree(theirs)
            self.assertTrue(same, f"message {index} parsed differently: {raw[:300]!r}")
            compared += 1
        self.assertGreater(compared, 1000)

    def test_text_fed_in_pieces_parses_as_at_once(self):
        rng = random.Random(5)
        for index, raw in enumerate(self.messages[::3] + self.mutated[::10]):
            text = raw.decode("ascii", "surrogateescape")
            parser = mime_parser._BoundedFeedParser()
            position = 0
            while position < len(text):
                step = rng.choice((1, 2, 7, 80, 3000, 100_000))
                parser.feed(text[position : position + step])
                position += step
            same = tree(parser.close()) == tree(mime_parser._parse_bytes(raw)[0])
            self.assertTrue(same, f"message {index} parsed differently: {raw[:300]!r}")

    def test_large_parts_are_not_read_line_by_line(self):
        """Otherwise the comparisons above compare the slow path with itself."""
        raw = self._corpus("attachments")[0]
        lines = raw.count(b"\n")
        self.assertGreater(lines, 1000)
        for line_by_line, cls in (
            (False, feedinput.TextInput),
            (True, mime_parser._feedparser.BufferedSubFile),
        ):
            with (
                patch.object(mime_parser, "LINE_BY_LINE", line_by_line),
                patch.object(cls, "readline", autospec=True, side_effect=cls.readline) as read,
            ):
                parse_message(raw)
            if line_by_line:
                self.assertGreater(read.call_count, lines)
            else:
                self.assertLess(read.call_count, 300)

    def test_boundary_tests_are_recognised(self):
        matcher = mime_parser._BoundaryMatcher("--b")
        self.assertEqual(feedinput._separator(matcher.match), "--b")

        def closure(separator):
            # Python 3.13's feed parser tests boundaries with such a closure.
            def boundarymatch(line):
                return line.startswith(separator)

            return boundarymatch

        self.assertEqual(feedinput._separator(closure("--c")), "--c")
        # Another test (a delivery report's blank line): every line is tested.
        self.assertIsNone(feedinput._separator(re.compile(r"\r\n|\r|\n").match))
        self.assertIsNone(feedinput._separator(lambda line: False))

    def test_final_line_break(self):
        pattern = re.compile(r"(\r\n|\r|\n)\Z")
        for text in ("", "\n", "\r", "\r\n", "a\n\n", "a\r\r", "a\n\r", "a\r\n", "ab", "a\nb"):
            expected, got = pattern.search(text), feedinput.FinalLineBreak.search(text)
            self.assertEqual(expected and expected.group(0), got and got.group(0), repr(text))

    def test_canonical_body_as_defined(self):
        rng = random.Random(9)
        alphabet = [b"a", b" ", b"\t", b"\x0b", b"\x0c", b"\r", b"\n", b"\r\n", b"\x1c", b"\x85"]
        bodies = [
            b"".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(3000)
        ]
        bodies += [fingerprint._split(raw)[1] for raw in self.messages + self.mutated]
        for body in bodies:
            self.assertEqual(fingerprint._canonical_body(body), canonical_body_by_lines(body))
