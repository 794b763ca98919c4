# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The fast HTML sanitizer (``lib.html_sanitizer``) writes what Odoo's writes.

Every input goes through ``odoo.tools.mail.html_sanitize`` and through the fast
function with the same options, and the two answers must be equal strings of the same
type. The fast path itself is held to Odoo's function (not only its fall-back to it):
where Odoo's answers, the fast path must answer the same without falling back; where
Odoo's raises, the fast path must raise the same error. Inputs: the benchmark corpora,
CPython's email test messages, the hostile and malformed mail of the other tests,
XSS vectors, quote-detection cases, and random HTML soup (hypothesis).
"""

import random
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo import fields
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger
from odoo.tools.mail import html_sanitize

from odoo.addons.crm_mail_sync.fields import SanitizedHtml
from odoo.addons.crm_mail_sync.lib import html_sanitizer
from odoo.addons.crm_mail_sync.lib.mime import parse_message

from . import mail_corpus
from .test_hostile_input import HOSTILE_HTML, SEEDS, fuzzed_message, unsafe_html

SANITIZE_LOGGER = "odoo.tools.mail.html_sanitize"

# Option sets of other Html fields (html_sanitize's defaults, the Html field's,
# "email_outgoing", ...): the fast function takes them all.
OTHER_OPTIONS = (
    {},
    {"sanitize_attributes": True},
    {"sanitize_attributes": True, "sanitize_style": True, "strip_classes": True},
    {"strip_style": True, "strip_classes": True},
    {"sanitize_style": True, "sanitize_form": False, "sanitize_conditional_comments": False},
    {
        "sanitize_tags": False,
        "sanitize_attributes": False,
        "sanitize_conditional_comments": False,
        "output_method": "xml",
    },
)

XSS_VECTORS = (
    "<script>alert(1)</script>",
    "<SCRIPT>alert(1)</SCRIPT><p>after</p>",
    '<script src="https://evil.example/x.js"></script>',
    "<scr<script>ipt>alert(1)</script>",
    '<a href="javascript:alert(1)">a</a>',
    '<a href="JAVASCRIPT:alert(1)">a</a>',
    '<a href="  javascript:alert(1)  ">a</a>',
    '<a href="java\tscript:alert(1)">a</a>',
    '<a href="java\nscript:alert(1)">a</a>',
    '<a href="java&#x09;script:alert(1)">a</a>',
    '<a href="java&#10;script:alert(1)">a</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">a</a>',
    '<a href="&#x6A;avascript:alert(1)">a</a>',
    '<a href="%6A%61%76%61%73%63%72%69%70%74:alert(1)">a</a>',
    '<a href="jav&#x0A;ascript&colon;alert(1)">a</a>',
    '<a href="j\x00avascript:alert(1)">a</a>',
    '<a href="vbscript:msgbox(1)">a</a>',
    '<a href="livescript:x">a</a><a href="mocha:x">b</a><a href="about:blank">c</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">a</a>',
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    '<img src="data:image/png;base64,x" alt="data: x">',
    '<a href="https://example.com/?next=javascript:alert(1)">a</a>',
    '<img src=x onerror="alert(1)">',
    "<img src=`javascript:alert(1)`>",
    '<img src="javascript:alert(1)">',
    '<p onclick="alert(1)" onmouseover=alert(2) ONLOAD=x>p</p>',
    "<body onload=alert(1)><p>b</p></body>",
    "<svg onload=alert(1)><circle/></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<math><maction xlink:href="javascript:alert(1)">m</maction></math>',
    "<math><style><img src=x onerror=alert(1)></style></math>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe src="https://example.com/"></iframe><p>after</p>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object><embed src="x.swf">',
    '<object codebase="https://example.com/" data="x" archive="a b"><param name=x value=y>'
    '<param valuetype=ref value="javascript:x"></object>',
    "<applet code=x></applet><frameset><frame src=x></frameset><layer src=x></layer>",
    '<form action="javascript:alert(1)"><input name=x><button formaction="javascript:x">b'
    "</button><select><option>o</option></select><textarea>t</textarea></form>",
    '<isindex action="javascript:alert(1)" type=image>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<meta http-equiv=refresh content=\"0; URL='https://evil.example/'\">",
    '<base href="javascript:alert(1)//"><a href="x">x</a>',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<div style="width: expression(alert(3))">s</div>',
    '<div style="width:exp/**/ression(alert(1))">c</div>',
    '<div style="width:\\65xpression(alert(1))">c</div>',
    '<div style="background:url(javascript:alert(4))">s</div>',
    "<div style=\"background-image: url('javascript:alert(4)')\">s</div>",
    '<div style="background:url(&quot;javascript:alert(4)&quot;)">s</div>',
    '<div style="behavior: url(x.htc); -moz-binding: url(x.xml#xss)">s</div>',
    '<div style="color:red;@import url(x);font-size:12px">s</div>',
    '<div style="color: red; font-size: 12px; position: fixed; top: 0">s</div>',
    '<p style="COLOR:Red;Font-Weight:bold;color:blue">s</p>',
    "<style>@import url(javascript:alert(5)); body{background:url(javascript:x)}</style>",
    '<style type="text/javascript">alert(1)</style><p>x</p>',
    "<style>p{color:red}</style><p>styled</p>",
    "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
    "<!--[if mso]><table><tr><td>outlook</td></tr></table><![endif]-->visible",
    "<![if !mso]><p>not outlook</p><![endif]>",
    "<!-- <script>alert(1)</script> --><p>x</p>",
    '<!-- a --><p>x</p><!-- <img src=x onerror="alert(1)"> -->',
    "<!--><script>alert(1)</script>-->",
    "<!---><p>x</p>--!><p>y</p>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<title><script>alert(1)</script></title><p>x</p>",
    "<textarea><script>alert(1)</script></textarea>",
    "<xmp><script>alert(1)</script></xmp><plaintext><b>x</b>",
    '<video poster="javascript:alert(1)"><source src="javascript:alert(1)"></video>',
    '<table background="javascript:alert(1)"><tr><td background="x.png">t</td></tr></table>',
    '<blink>b</blink><marquee>m</marquee><image src="javascript:alert(1)">',
    '<?xml version="1.0" encoding="utf-8"?><p>x</p><?php echo 1; ?>',
    '<p encoding="utf-8">x</p><html xmlns:o="urn:schemas-microsoft-com:office:office">'
    "<o:p>office</o:p></html>",
    "<![CDATA[<script>alert(1)</script>]]><p>x</p>",
    '<a href="#top" target="_blank" rel="noopener" data-oe-model="x" data-evil="y">top</a>',
    '<p class="a b" id="i" title="t" lang="fr" dir="rtl" hidden>attributes</p>',
    "<html><head><title>t</title></head><body><p>x</p></body></html>",
    "<html><body><p>a</p></body><body><p>b</p></body></html>",
    "<div><p>unclosed <b>bold <i>italic</div> <td>stray</td> </p></p></b>",
    "<p>a &amp; b &lt; c &gt; d &nbsp; e \xa0 f &unknown; &#0; &#xFFFF;</p>",
    "<p>\x01\x08\x0b\x0c\x1f\x7f\x85\ufeff\ufffe text</p>",
    "<p>İı ſ \u212a Σ text ENCODİNG=x</p><p ENCODİNG=x>y</p>",
)

QUOTE_CASES = (
    "<p>Hello\n> quoted\n> more\nend</p>",
    "<p>\n>> deeper\n> less</p>",
    "<div>text\n&gt; entity quote</div>",
    "<div>text&#10;&gt; entity newline</div>",
    "<pre>code\n>not a quote? it is</pre>",
    "<p>Regards<br>-- <br>John</p>",
    "<p>--<br>John</p>",
    "<p>-- \nJohn Doe\nACME</p>",
    "<p>text\n--\r\nSig</p>",
    "<p>a -- b -- c</p>",
    "<p>--</p>",
    "<div>Cheers,<div>-- <br>Sig</div></div>",
    '<div class="gmail_extra"><p>old</p></div><p>new</p>',
    '<div><div class="x gmail_extra y"><p>old</p></div></div>',
    '<div id="divRplyFwdMsg"><p>From: x</p></div><div>quoted</div>',
    '<div class="SkyDrivePlaceholder">x</div>',
    '<p>a</p><hr id="stopSpelling"><p>quoted 1</p><p>quoted 2</p>',
    '<div><hr class="stopSpelling"><div>q<span>inner</span></div></div>',
    '<p class="stopSpelling">not an hr</p>',
    '<div class="yahoo_quoted"><p>q</p></div><p>after</p><p>after 2</p>',
    '<div><div class="yahoo_quoted">q</div><!-- comment sibling --><p>x</p></div>',
    "<blockquote>quoted</blockquote><p>mine</p>",
    "<blockquote><blockquote>nested<p>deep</p></blockquote>outer</blockquote>",
    '<blockquote type="cite"><div>On Monday, X wrote:<br>\n> a</div></blockquote>',
    '<div data-o-mail-quote="1"><p>child</p><p>child 2</p></div>',
    '<div data-o-mail-quote=""><p>empty marker</p></div>',
    '<div data-o-mail-quote-container="1"><p>c</p></div>',
    '<div data-o-mail-quote-node="1" data-o-mail-quote="1"><p>n</p></div>',
    '<DIV CLASS="gmail_extra"><BLOCKQUOTE>upper case</BLOCKQUOTE></DIV>',
    '<div class="gmail&#95;extra">entity class</div>',
    '<div id="divRplyFwdMsg">\n> both</div><hr id=stopSpelling><blockquote>q</blockquote>',
    "Plain text\n> not html\n-- \nsig",
    '<table><tr><td class="gmail_extra">cell</td><td>next</td></tr></table>',
)

# Random HTML soup: tags, attributes, styles, links and text with quote markers.
_TAGS = (
    "p div span a b i br hr img table tr td blockquote pre font center ul li h1 body html "
    "head title style script iframe object embed param applet form input button select "
    "textarea meta base link svg math frame frameset noscript image blink o:p DIV Span BR"
).split()
_ATTRIBUTE_NAMES = (
    "class id style href src title alt width onclick onload onerror OnMouseOver background "
    "action formaction poster http-equiv content valuetype value codebase data archive "
    "classid rel target encoding xmlns data-o-mail-quote data-o-mail-quote-container "
    "data-o-mail-quote-node data-oe-model data-evil lang"
).split()
_STYLE_PROPERTIES = (
    "color font-size font-weight background background-color background-image width "
    "height margin padding border display position behavior -moz-binding COLOR Width"
).split()
_STYLE_VALUES = (
    "red",
    "12px",
    "#fff",
    "1px solid #ccc",
    "none",
    "expression(alert(1))",
    "exp/**/ression(x)",
    "url(javascript:alert(1))",
    "url('x.png')",
    'url("data:image/png;base64,xx")',
    "\\65xpression(x)",
    "'a;b'",
    '"quoted"',
    "0 !important",
)
_LINKS = (
    "https://example.com/a?b=1&amp;c=2",
    "http://[::1",
    "javascript:alert(1)",
    " JaVaScRiPt:x",
    "java&#x09;script:x",
    "jav%61script:x",
    "vbscript:x",
    "data:text/html,x",
    "data:image/png;base64,x",
    "data:image/svg+xml;base64,x",
    "#anchor",
    "mailto:a@example.com",
    "x.png",
    "",
)
_CLASSES = (
    "btn",
    "gmail_extra",
    "x yahoo_quoted",
    "SkyDrivePlaceholder",
    "stopSpelling",
    "gmail&#95;extra",
    "",
)
_TEXTS = (
    "hello ",
    "\n> quoted line",
    "\n>> deeper",
    "\n-- \nSignature",
    "--",
    "-- ",
    "--\r\nsig",
    "\n--",
    "&gt;",
    "&#10;&gt; x",
    "&nbsp;",
    "\xa0",
    "&",
    "<",
    ">",
    "&amp;",
    "İ ſ \u212a",
    "\x0b",
    "encoding=",
)
_MARKUP = (
    "<!-- c -->",
    "<!--[if mso]><p>x</p><![endif]-->",
    "<!-->",
    "<!--->",
    "--!>",
    "<![CDATA[x]]>",
    "<?php x ?>",
    "<!DOCTYPE html>",
    '<?xml version="1.0" encoding="utf-8"?>',
    "</o:p>",
    "<br/>",
    '<hr id="stopSpelling">',
)


def _attribute(name, value, quote):
    return f" {name}" if value is None else f" {name}={quote}{value}{quote}"


_STYLE = st.lists(
    st.tuples(st.sampled_from(_STYLE_PROPERTIES), st.sampled_from(_STYLE_VALUES)),
    max_size=4,
).map(lambda pairs: ";".join(f"{prop}: {value}" for prop, value in pairs))
_ATTRIBUTE = st.builds(
    _attribute,
    st.sampled_from(_ATTRIBUTE_NAMES),
    st.one_of(
        st.none(),
        st.sampled_from(_LINKS),
        st.sampled_from(_CLASSES),
        _STYLE,
        st.sampled_from(["1", "refresh", "ref", "0;url=javascript:x"]),
    ),
    st.sampled_from(['"', "'", ""]),
)
_OPEN_TAG = st.builds(
    lambda tag, attributes: f"<{tag}{''.join(attributes)}>",
    st.sampled_from(_TAGS),
    st.lists(_ATTRIBUTE, max_size=4),
)
_SOUP = st.lists(
    st.one_of(
        _OPEN_TAG,
        st.sampled_from(_TAGS).map(lambda tag: f"</{tag}>"),
        st.sampled_from(_TEXTS),
        st.sampled_from(_MARKUP),
        st.text(max_size=8),
    ),
    max_size=40,
).map("".join)


def _html_bodies(raws):
    """The HTML bodies the parser finds in raw messages (the unparsable are skipped)."""
    bodies = []
    for raw in raws:
        try:
            parsed = parse_message(raw)
        except Exception:  # the parser's own tests see to its errors
            continue
        if parsed.body_html:
            bodies.append(parsed.body_html)
    return bodies


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestHtmlSanitizer(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Email = cls.env["crm.mail.email"]
        field = cls.Email._fields["body_html"]
        # The options fields.Html._convert passes for the email's body field.
        cls.options = {
            "sanitize_tags": field.sanitize_tags,
            "sanitize_attributes": field.sanitize_attributes,
            "sanitize_style": field.sanitize_style,
            "sanitize_form": field.sanitize_form,
            "sanitize_conditional_comments": field.sanitize_conditional_comments,
            "output_method": field.sanitize_output_method,
            "strip_style": field.strip_style,
            "strip_classes": field.strip_classes,
        }

    def assertSanitizedAlike(self, src, options=None):
        """Odoo's html_sanitize and the fast one give the same for ``src``."""
        options = self.options if options is None else options
        try:
            expected, error = html_sanitize(src, silent=False, **options), None
        except Exception as exc:  # the fast path must then raise the same
            expected, error = None, exc
        if src and isinstance(src, str):
            if error is None:
                self.assertSame(html_sanitizer._sanitize(src, **options), expected, src)
            else:
                with self.assertRaises(type(error), msg=src):
                    html_sanitizer._sanitize(src, **options)
        # The public function, fall-back included, as the import calls it.
        with mute_logger(SANITIZE_LOGGER):
            expected = html_sanitize(src, **options)
            got = html_sanitizer.html_sanitize(src, **options)
        self.assertSame(got, expected, src)

    def assertSame(self, got, expected, src):
        """``got`` and ``expected`` are equal strings of the same type."""
        # Not assertEqual: its diff of two 80 KB lines takes minutes.
        self.assertIs(type(got), type(expected), src)
        if got == expected:
            return
        got, expected = str(got), str(expected)
        at = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
            min(len(got), len(expected)),
        )
        start = max(at - 40, 0)
        self.fail(
            f"the fast sanitizer's answer differs from Odoo's at {at}: "
            f"{got[start : at + 80]!r} != {expected[start : at + 80]!r}\nfor {str(src)[:2000]!r}"
        )

    def test_fast_path_is_on(self):
        # Off when the Odoo code it mirrors changed: then every test below would
        # only compare Odoo's function with itself.
        self.assertTrue(html_sanitizer.FAST_PATH)

    def test_corpora(self):
        for kind in mail_corpus.CORPUS_KINDS:
            bodies = _html_bodies(mail_corpus.corpus(kind, 30, seed=5))
            with self.subTest(kind=kind):
                self.assertTrue(bodies)
                for body in bodies:
                    self.assertSanitizedAlike(body)

    def test_cpython_email_messages(self):
        bodies = _html_bodies(raw for _name, raw in mail_corpus.cpython_email_messages())
        self.assertTrue(bodies)
        for body in bodies:
            for options in (self.options, *OTHER_OPTIONS):
                self.assertSanitizedAlike(body, options)

    def test_hostile_and_malformed_mail(self):
        bodies = _html_bodies(mail_corpus.malformed_corpus().values())
        bodies += _html_bodies(SEEDS)
        rng = random.Random(18)
        bodies += _html_bodies(fuzzed_message(rng) for _ in range(400))
        self.assertGreater(len(bodies), 100)
        for body in bodies:
            self.assertSanitizedAlike(body)
            # What the import stores: PostgreSQL text holds no NUL.
            self.assertSanitizedAlike(body.replace("\x00", ""))
        for snippet in HOSTILE_HTML:
            for options in (self.options, *OTHER_OPTIONS):
                self.assertSanitizedAlike(snippet, options)

    def test_xss_vectors(self):
        for vector in XSS_VECTORS:
            for options in (self.options, *OTHER_OPTIONS):
                self.assertSanitizedAlike(vector, options)
                self.assertSanitizedAlike(f"<div><p>before</p>{vector}<p>after</p></div>", options)
            # Not only alike: harmless (comments are kept, and shown as nothing).
            if "<!" not in vector:
                with mute_logger(SANITIZE_LOGGER):
                    cleaned = html_sanitizer.html_sanitize(vector, **self.options)
                self.assertEqual(unsafe_html(cleaned), [], vector)

    def test_quote_detection(self):
        for case in QUOTE_CASES:
            for options in (self.options, *OTHER_OPTIONS):
                self.assertSanitizedAlike(case, options)
        marked = html_sanitizer.html_sanitize(QUOTE_CASES[0], **self.options)
        self.assertIn('data-o-mail-quote="1"', marked)

    def test_empty_odd_and_failing_input(self):
        for src in ("", None, False, " ", "\n", "<!-- only -->", "<o:p></o:p>", "x", "\x00"):
            self.assertSanitizedAlike(src)
        # Not a str: Odoo's function answers (Markup's replace() escapes its arguments).
        self.assertSanitizedAlike(html_sanitize("<p>a--!>b</p>"))
        # Odoo's function fails on these (a quote marker put on a comment, a URL that
        # cannot be split): the fast one falls back to it, and its warning.
        for src in (
            '<div class="yahoo_quoted">q</div><!-- c --><p>x</p>',
            '<iframe src="http://[bad/"></iframe>',
            '<object><param valuetype="ref"></object>',
        ):
            self.assertSanitizedAlike(src)
            with self.assertLogs(SANITIZE_LOGGER, "WARNING") as logs:
                self.assertEqual(
                    html_sanitizer.html_sanitize(src, **self.options),
                    "<p>Unknown error when sanitizing</p>",
                )
            self.assertEqual(len(logs.records), 1)

    @settings(
        max_examples=600,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_SOUP, st.sampled_from((None, *OTHER_OPTIONS)))
    def test_random_html(self, soup, options):
        self.assertSanitizedAlike(soup, options)

    def test_import_uses_it(self):
        """presanitize gives Odoo's Html field value, by the fast function."""
        field = self.Email._fields["body_html"]
        body = _html_bodies(mail_corpus.corpus("newsletter", 1, seed=2))[0]
        # What Odoo's own Html field stores (the class SanitizeOnceHtml derives from).
        odoo_value = fields.Html._convert(field, body, self.Email, validate=True)
        with patch.object(
            html_sanitizer, "html_sanitize", wraps=html_sanitizer.html_sanitize
        ) as fast:
            value = field.presanitize(body, self.Email)
        self.assertIsInstance(value, SanitizedHtml)
        self.assertSame(value.html, odoo_value, body)
        self.assertEqual(fast.call_count, 1)
        self.assertIsNone(field.presanitize(False, self.Email).html)

    def test_a_sanitizer_put_in_odoo_place_is_honoured(self):
        def wrapped(value, **options):
            return str(html_sanitize(value, **options)) + "<!-- wrapped -->"

        with patch.object(fields, "html_sanitize", wrapped):
            value = self.Email._fields["body_html"].presanitize("<p>x</p>", self.Email)
        self.assertEqual(value.html, "<p>x</p><!-- wrapped -->")
