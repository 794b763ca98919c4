# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib.fingerprint import content_fingerprint, message_key

from . import mail_corpus


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFingerprint(BaseCase):
    def test_redelivered_copy_has_the_same_fingerprint(self):
        raw = mail_corpus.simple_message(message_id="<x@y>", body="Line one\r\nLine two")
        copy = (
            b"Return-Path: <bounce@example.com>\r\nDelivered-To: other@example.org\r\n"
            b"Received: from mx by other; Mon, 6 May 2024\r\n"
            + raw.replace(b"\r\n", b"\n")
            + b"\n\n"
        )
        self.assertEqual(content_fingerprint(raw), content_fingerprint(copy))

    def test_different_content_differs(self):
        base = dict(message_id="<same@id>", subject="S", body="Genuine")
        raw = mail_corpus.simple_message(**base)
        fp = content_fingerprint(raw)
        for change in (
            {"body": "Forged"},
            {"subject": "T"},
            {"sender": "mallory@example.com"},
            {"to": "eve@example.com"},
        ):
            with self.subTest(change=change):
                other = mail_corpus.simple_message(**dict(base, **change))
                self.assertNotEqual(content_fingerprint(other), fp)

    def test_message_key(self):
        raw = mail_corpus.simple_message(message_id=False)
        key = message_key("", raw)
        self.assertTrue(key.startswith("<") and key.endswith("@crm-mail-sync.invalid>"))
        self.assertEqual(key, message_key("", raw))
        other = mail_corpus.simple_message(message_id=False, subject="Other")
        self.assertNotEqual(key, message_key("", other))
        self.assertEqual(message_key("<real@id>", raw), "<real@id>")
