# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
import re
from datetime import datetime

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.fingerprint import (
    canonical_content,
    content_fingerprint,
    message_key,
)

from . import mail_corpus

DATE = datetime(2024, 5, 6, 8, 0)


def _with_attachment(payload, subject="Offer"):
    return (
        b"From: Paula <paula@customer.example>\r\nTo: sales@ourcompany.example\r\n"
        b"Subject: " + subject.encode() + b"\r\nDate: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <offer@customer.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee the offer\r\n"
        b'--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="o.pdf"'
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(payload)
        + b"--B--\r\n"
    )


def _redelivered(raw):
    """The copy another mailbox's server stores: new trace headers, LF, extra blanks."""
    head, _sep, body = raw.partition(b"\r\n\r\n")
    # A server may re-fold a long header line.
    head = head.replace(b"To: ", b"To:\r\n    ", 1)
    body = b"\r\n".join(line + b"  " for line in body.split(b"\r\n"))
    copy = (
        b"Return-Path: <bounce+x@customer.example>\r\n"
        b"Delivered-To: other@ourcompany.example\r\n"
        b"Received: from mx.ourcompany.example by imap.ourcompany.example;\r\n"
        b"\tMon, 6 May 2024 10:00:02 +0200\r\n"
        b"X-Spam-Status: No, score=-1.0\r\nX-Original-To: other@ourcompany.example\r\n"
        + head
        + b"\r\nX-UID: 4711\r\nStatus: RO\r\n\r\n"
        + body
        + b"\r\n\r\n\r\n"
    )
    return copy.replace(b"\r\n", b"\n")


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFingerprint(BaseCase):
    """Fingerprints ignore transport noise and catch any content change."""

    def test_redelivered_copy_has_the_same_fingerprint(self):
        raw = mail_corpus.simple_message(
            message_id="<x@y>", date=DATE, body="Line one\r\nLine two\r\n\r\nBye"
        )
        copy = _redelivered(raw)
        self.assertNotEqual(raw, copy)
        self.assertIn(b"Delivered-To", copy)
        self.assertNotIn(b"\r\n", copy)
        self.assertEqual(content_fingerprint(copy), content_fingerprint(raw))
        # Blank lines before the headers (some exports) change nothing either.
        self.assertEqual(content_fingerprint(b"\r\n" + raw), content_fingerprint(raw))

    def test_redelivered_copies_of_a_varied_mailbox(self):
        messages = mail_corpus.many_messages(60, seed=5)
        fingerprints = [content_fingerprint(raw) for raw in messages]
        self.assertEqual(len(set(fingerprints)), 60)
        for raw, fingerprint in zip(messages, fingerprints, strict=True):
            self.assertEqual(content_fingerprint(_redelivered(raw)), fingerprint)

    def test_forged_copy_with_the_same_message_id_differs(self):
        genuine = mail_corpus.simple_message(message_id="<same@id>", date=DATE, body="Genuine")
        forged = mail_corpus.simple_message(message_id="<same@id>", date=DATE, body="Forged")
        self.assertNotEqual(content_fingerprint(forged), content_fingerprint(genuine))
        # Even when the forgery arrives with the same transport noise as a copy.
        self.assertNotEqual(content_fingerprint(_redelivered(forged)), content_fingerprint(genuine))

    def test_every_content_change_differs(self):
        base = dict(
            message_id="<same@id>",
            subject="S",
            sender="alice@example.com",
            to="bob@example.org",
            body="Genuine",
            date=DATE,
        )
        fingerprint = content_fingerprint(mail_corpus.simple_message(**base))
        for change in (
            {"body": "Genuine."},
            {"body": "Genuine\r\nP.S. and more"},
            {"subject": "T"},
            {"sender": "mallory@example.com"},
            {"to": "eve@example.com"},
            {"date": datetime(2024, 5, 6, 8, 1)},
            {"message_id": "<other@id>"},
            {"extra_headers": ["Cc: carol@example.com"]},
            {"extra_headers": ["In-Reply-To: <parent@id>"]},
        ):
            with self.subTest(change=change):
                other = mail_corpus.simple_message(**dict(base, **change))
                self.assertNotEqual(content_fingerprint(other), fingerprint)

    def test_attachment_change_differs(self):
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
        raw = _with_attachment(pdf)
        self.assertEqual(content_fingerprint(_redelivered(raw)), content_fingerprint(raw))
        tampered = _with_attachment(pdf[:-1] + b"X")
        self.assertNotEqual(content_fingerprint(tampered), content_fingerprint(raw))

    def test_canonical_form(self):
        raw = (
            b"Received: from x\r\nSubject:  Folded\r\n   subject  \r\nFrom: a@b.example\r\n"
            b"X-Trace: 1\r\n\r\nbody  \r\n\r\n"
        )
        self.assertEqual(
            canonical_content(raw), b"from:a@b.example\nsubject:Folded subject\n\nbody"
        )
        self.assertRegex(content_fingerprint(raw), r"^[0-9a-f]{64}$")
        # Header names are case-insensitive; the body is not.
        self.assertEqual(
            content_fingerprint(raw.replace(b"Subject:", b"SUBJECT:")), content_fingerprint(raw)
        )
        self.assertNotEqual(
            content_fingerprint(raw.replace(b"body", b"Body")), content_fingerprint(raw)
        )
        # No blank line at all: everything is headers, still a stable digest.
        self.assertEqual(
            content_fingerprint(b"Subject: only headers"),
            content_fingerprint(b"Subject: only headers\r\n"),
        )

    def test_message_key(self):
        raw = mail_corpus.simple_message(message_id=False, date=DATE)
        key = message_key("", raw)
        self.assertRegex(key, r"^<[0-9a-f]{32}@crm-mail-sync\.invalid>$")
        # The same message without Message-ID, seen again in another mailbox.
        self.assertEqual(message_key("", _redelivered(raw)), key)
        self.assertEqual(message_key(None, raw, content_fingerprint(raw)), key)
        self.assertEqual(message_key("  ", raw), key)
        other = mail_corpus.simple_message(message_id=False, date=DATE, subject="Other")
        self.assertNotEqual(message_key("", other), key)
        self.assertEqual(message_key("<real@id>", raw), "<real@id>")
        self.assertTrue(re.match(r"<[0-9a-f]{32}@", message_key("", b"x", "f" * 64)))
