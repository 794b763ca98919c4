# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The benchmark's corpora (``mail_corpus.corpus``): deterministic, each with the
feature it stands for, and parsed by the add-on's parser without an exception."""

import email
import email.policy
import re

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.mime import parse_message

from . import mail_corpus

ENCODED_WORD = re.compile(rb"=\?([\w-]+)\?([BbQq])\?")


def _head(raw):
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


def _header(raw, name):
    """The unfolded raw value of header ``name`` in ``raw``'s top-level head (bytes)."""
    match = re.search(
        rb"^" + name.encode() + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)",
        _head(raw),
        re.IGNORECASE | re.MULTILINE,
    )
    return re.sub(rb"\r?\n[ \t]+", b" ", match.group(1)).strip() if match else None


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestBenchmarkCorpus(BaseCase):
    COUNT = 120

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.corpora = {
            kind: mail_corpus.corpus(kind, cls.COUNT, seed=3) for kind in mail_corpus.CORPUS_KINDS
        }

    def test_same_seed_same_bytes_other_seed_other_messages(self):
        for kind in mail_corpus.CORPUS_KINDS:
            with self.subTest(kind=kind):
                # Not assertEqual: the diff of megabytes of mail takes minutes.
                same = mail_corpus.corpus(kind, self.COUNT, seed=3) == self.corpora[kind]
                self.assertTrue(same, "the same seed gave other bytes")
                other = mail_corpus.corpus(kind, self.COUNT, seed=4)
                ids = {_header(raw, "Message-ID") for raw in self.corpora[kind]}
                self.assertFalse(ids & {_header(raw, "Message-ID") for raw in other})

    def test_unique_message_ids_and_many_senders(self):
        for kind, messages in self.corpora.items():
            with self.subTest(kind=kind):
                ids = [_header(raw, "Message-ID") for raw in messages]
                self.assertTrue(all(ids))
                self.assertEqual(len(set(ids)), len(ids))
        # About 400 senders per 2,000 messages.
        senders = {_header(raw, "From") for raw in mail_corpus.corpus("plain", 2000, seed=3)}
        self.assertGreater(len(senders), 250)
        self.assertLess(len(senders), 450)

    def test_unknown_kind(self):
        with self.assertRaises(ValueError):
            mail_corpus.corpus("nonsense", 1)

    def test_every_message_parses(self):
        for kind, messages in self.corpora.items():
            for index, raw in enumerate(messages):
                with self.subTest(kind=kind, index=index):
                    parsed = parse_message(raw)
                    self.assertTrue(parsed.message_id)

    def test_plain(self):
        for raw in self.corpora["plain"]:
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
            self.assertEqual(message.get_content_type(), "text/plain")
            self.assertTrue(500 < len(raw) < 6000, len(raw))

    def test_newsletter(self):
        for raw in self.corpora["newsletter"]:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            html = message.get_body(("html",)).get_content()
            self.assertTrue(30_000 <= len(html) <= 90_000, len(html))
            self.assertGreaterEqual(html.count("<img "), 15)
            self.assertGreaterEqual(html.count("<a "), 40)
            self.assertTrue(message["List-Unsubscribe"])

    def test_attachments(self):
        sizes = []
        for raw in self.corpora["attachments"]:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            parts = list(message.walk())
            files = [part for part in parts if part.get_content_disposition() == "attachment"]
            inline = [part for part in parts if part.get_content_disposition() == "inline"]
            self.assertEqual(len(files), 1)
            payload = files[0].get_payload(decode=True)
            self.assertTrue(100_000 <= len(payload) <= 1_000_000, len(payload))
            sizes.append(len(payload))
            self.assertTrue(payload.startswith((b"%PDF", b"PK\x03\x04")))
            self.assertEqual(inline[0].get_content_type(), "image/png")
            html = message.get_body(("html",)).get_content()
            self.assertIn(f"cid:{inline[0]['Content-ID'].strip('<>')}", html)
        # Spread over the whole range, not all small or all large.
        self.assertLess(min(sizes), 200_000)
        self.assertGreater(max(sizes), 600_000)

    def test_multilingual(self):
        charsets, encodings, eight_bit, languages = set(), set(), 0, set()
        for raw in self.corpora["multilingual"]:
            head = _head(raw)
            for charset, encoding in ENCODED_WORD.findall(head):
                charsets.add(charset.lower())
                encodings.add(encoding.upper())
            if any(byte > 127 for byte in head):
                eight_bit += 1
            charsets.update(
                value.lower() for value in re.findall(rb"charset=([\w-]+)", raw, re.IGNORECASE)
            )
            languages.add(_header(raw, "Content-Language"))
        self.assertEqual(encodings, {b"B", b"Q"})
        self.assertGreater(eight_bit, 0)
        self.assertGreaterEqual(len(charsets), 3)
        self.assertTrue(
            {b"iso-8859-2", b"windows-1250", b"iso-8859-1", b"utf-8"} <= charsets, charsets
        )
        self.assertEqual(languages, {b"fr", b"cs", b"pl"})
        # The parser decodes the names and subjects, whatever their charset.
        decoded = " ".join(parse_message(raw).subject or "" for raw in self.corpora["multilingual"])
        for word in ("Réclamation", "objednávku", "Zapytanie", "Łodzi"):
            self.assertIn(word, decoded)

    def test_threads(self):
        messages = self.corpora["threads"]
        ids = {_header(raw, "Message-ID") for raw in messages}
        longest, replies = 0, 0
        for raw in messages:
            references = (_header(raw, "References") or b"").split()
            in_reply_to = _header(raw, "In-Reply-To")
            if in_reply_to:
                replies += 1
                self.assertEqual(references[-1], in_reply_to)
                self.assertTrue(set(references) <= ids)  # the whole thread is in the corpus
                self.assertIn(b"wrote:", raw)
                self.assertTrue(parse_message(raw).subject.startswith("Re: "))
            longest = max(longest, len(references))
        self.assertGreater(replies, len(messages) / 2)
        self.assertGreaterEqual(longest, 5)
        # The quoted history grows along a chain.
        by_id = {_header(raw, "Message-ID"): raw for raw in messages}
        chain = max(messages, key=lambda raw: len(_header(raw, "References") or b""))
        sizes = [len(by_id[ref]) for ref in _header(chain, "References").split()]
        self.assertGreater(len(chain), sizes[0])

    def test_cpython_replays_every_test_message_with_fresh_ids(self):
        originals = mail_corpus.cpython_email_messages()
        self.assertGreaterEqual(len(originals), 40)
        count = len(originals) * 2 + 3
        messages = mail_corpus.corpus("cpython", count, seed=1)
        ids = [_header(raw, "Message-ID") for raw in messages]
        self.assertEqual(len(set(ids)), count)
        for index, raw in enumerate(messages):
            name, original = originals[index % len(originals)]
            with self.subTest(name=name):
                # Only the Message-ID (and an mbox "From " line) differ.
                self.assertTrue(raw.startswith(b"Message-ID: <cpython.1."))
                body = re.split(rb"\r?\n\r?\n", original, maxsplit=1)[-1]
                self.assertTrue(raw.endswith(body))
                parse_message(raw)
