# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A plain-text body is stored without Odoo's sanitizer, as the sanitizer would store it.

The parser builds the HTML of a text-only message itself (escaped paragraphs, web
addresses as links) in the sanitizer's output form; the import stores it as it is.
These tests hold the fast path to the slow one: for any text, sanitising the HTML
changes nothing, and an imported message stores the same body either way.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.tests import tagged

from odoo.addons.crm_mail_sync.fields import SanitizedHtml
from odoo.addons.crm_mail_sync.lib.mime import mark_text_quotes, parse_message, text_to_html

from . import mail_corpus
from .common import CrmMailUnitCase

# Text a mail body may hold: any character, with the ones that matter to HTML, to
# paragraphs and to links made likely.
TEXT = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("&<>\"'\xa0\x00\x01\x0c\x1c\ufffe\n\n\r\t ().,;:!?[]=%#-")),
        # Signatures and quotes, which the sanitizer marks.
        st.sampled_from(["--", "-- ", "--\n", "\n-- \n", "\n> ", "\r\n", "\r> "]),
        st.sampled_from(["http://", "https://", "www.", "example.com/a?b=1&c=2", "(x)"]),
    ),
    max_size=60,
).map("".join)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestPlainTextBody(CrmMailUnitCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.local_account("plain")
        cls.folder = cls.account.folder_ids

    def sanitized(self, html):
        """What the sanitizer of the email's body field makes of ``html``."""
        return self.Email._fields["body_html"].presanitize(html, self.Email).html

    @settings(
        max_examples=400,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(TEXT)
    def test_text_html_is_what_the_sanitizer_writes(self, text):
        html = text_to_html(text)
        self.assertEqual(self.sanitized(html), mark_text_quotes(html))

    def test_addresses_become_links(self):
        html = text_to_html(
            "See https://example.com/a?b=1&c=2. Or (http://example.org/wiki/Foo_(bar)),\n"
            "not javascript:alert(1) nor http:// alone.\n\n<b>bold</b> \"quoted\" 'single'"
        )
        self.assertEqual(
            html,
            '<p>See <a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
            'rel="noreferrer noopener">https://example.com/a?b=1&amp;c=2</a>. Or '
            '(<a href="http://example.org/wiki/Foo_(bar)" target="_blank" '
            'rel="noreferrer noopener">http://example.org/wiki/Foo_(bar)</a>),<br>'
            "not javascript:alert(1) nor http:// alone.</p>"
            "<p>&lt;b&gt;bold&lt;/b&gt; \"quoted\" 'single'</p>",
        )
        self.assertEqual(self.sanitized(html), html)

    def test_only_text_bodies_skip_the_sanitizer(self):
        text = parse_message(mail_corpus.simple_message(body="Hello <b>there</b> & bye"))
        self.assertTrue(text.body_html_is_safe)
        self.assertIsInstance(self.Gateway._prepare_body_html(text), SanitizedHtml)
        html_message = (
            b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n"
            b"<p onclick=x>hi</p><script>alert(1)</script>"
        )
        parsed = parse_message(html_message)
        self.assertFalse(parsed.body_html_is_safe)
        self.assertEqual(self.Gateway._prepare_body_html(parsed).html, "<p>hi</p>")

    def test_signature_marks(self):
        html = text_to_html("Hello\n\n--\nAnna https://acme.example\n\nPS")
        self.assertEqual(
            mark_text_quotes(html),
            "<p>Hello</p>"
            '<p data-o-mail-quote="1">--<br data-o-mail-quote="1">Anna '
            '<a href="https://acme.example" target="_blank" rel="noreferrer noopener" '
            'data-o-mail-quote="1">https://acme.example</a></p>'
            '<p data-o-mail-quote="1">PS</p>',
        )
        self.assertEqual(self.sanitized(html), mark_text_quotes(html))
        # Not the paragraphs text_to_html writes: the caller sanitises instead.
        self.assertIsNone(mark_text_quotes("<div>--<br>x</div>"))

    def test_imported_bodies_same_as_sanitized(self):
        """Every body of the corpora, stored, is the sanitizer's output for the parser's
        HTML; a text body is the parser's HTML with the sanitizer's quote marks."""
        raws = mail_corpus.many_messages(120, seed=11, senders=20) + list(
            mail_corpus.malformed_corpus().values()
        )
        # Signatures, which the sanitizer marks as quotes.
        raws += [
            mail_corpus.simple_message(body=body, message_id=f"<sig{index}@example.com>")
            for index, body in enumerate(
                ["Hello,\n\nThanks.\n\n--\nAnna\nACME", "--\nOnly a signature", "A\n-- \nB"]
            )
        ]
        self.import_raw(self.folder, raws)
        emails = self.emails_of(self.account)
        self.assertGreater(len(emails), 120)
        text_bodies = marked = 0
        for email in emails:
            location = email.location_ids[:1]
            parsed = parse_message(raws[location.uid - 1])
            self.assertEqual(email.body_html, self.sanitized(parsed.body_html), email.subject)
            if parsed.body_html_is_safe:
                text_bodies += 1
                marked += "data-o-mail-quote" in email.body_html
                self.assertEqual(email.body_html, mark_text_quotes(parsed.body_html))
        self.assertGreater(text_bodies, 50)
        self.assertGreaterEqual(marked, 2)
