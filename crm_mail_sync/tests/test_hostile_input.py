# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Hostile input: fuzzed MIME, hostile HTML, resource bombs, forged ids, secrets.

The fuzzing is deterministic (hypothesis with ``derandomize``, fixed seeds), so a
failure found once is found again by CI. Messages go through the real import
pipeline: a real Dovecot folder and PostgreSQL, no mocks.
"""

import base64
import itertools
import logging
import random
import re
from unittest.mock import patch

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.tests import tagged
from odoo.tools import mute_logger
from odoo.tools.mail import html_sanitize

from odoo.addons.crm_mail_sync.lib.batch import BatchItem
from odoo.addons.crm_mail_sync.lib.mime import (
    MAX_BODY_SIZE,
    MessageParseError,
    parse_message,
)

from . import mail_corpus
from .common import CrmMailSyncCase

GATEWAY_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_gateway"
ACCOUNT_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_account"

# ----------------------------------------------------------------------
# Hostile material
# ----------------------------------------------------------------------

HOSTILE_HTML = (
    "<script>alert(document.cookie)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<body onload=alert(1)><p>b</p></body>",
    "<svg onload=alert(1)><circle/></svg>",
    '<a href="javascript:alert(2)">a</a>',
    '<a href=" JaVaScRiPt:alert(2)">a</a>',
    '<a href="java&#x09;script:alert(2)">a</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">a</a>',
    '<a href="vbscript:msgbox(1)">a</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">a</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object><embed src="x.swf">',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">b</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<div style="width: expression(alert(3))">s</div>',
    '<div style="background:url(javascript:alert(4))">s</div>',
    "<div style=\"background-image: url('javascript:alert(4)')\">s</div>",
    '<div style="behavior: url(x.htc); -moz-binding: url(x.xml#xss)">s</div>',
    "<style>@import url(javascript:alert(5)); body{background:url(javascript:alert(6))}</style>",
    '<img src="https://tracker.example/pixel.gif?u=1" width="1" height="1">',
    '<p onclick="alert(1)" onmouseover=alert(2)>p</p>',
    '<img src="javascript:alert(1)">',
    '<math><maction xlink:href="javascript:alert(1)">m</maction></math>',
    '<base href="javascript:alert(1)//">',
    '<video poster="javascript:alert(1)"><source src="javascript:alert(1)"></video>',
    '<div style="width:exp/**/ression(alert(1))">c</div>',
    "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
    '<a href="jav\tascript:alert(1)">tab</a>',
    "<img src=`javascript:alert(1)`>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
)
CHARSETS = (
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "iso-8859-2",
    "windows-1252",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "utf-7",
    "koi8-r",
    "shift_jis",
    "iso-2022-jp",
    "gb2312",
    "big5",
    "hz",
    "cp037",
    "x-no-such-charset",
    "zlib",
    "base64",
    "rot13",
    "idna",
    "",
    '"',
    "utf-8\x00",
    "a" * 300,
)
ENCODINGS = (
    "7bit",
    "8bit",
    "binary",
    "base64",
    "quoted-printable",
    "x-uuencode",
    "uuencode",
    "bogus",
    "",
    "BASE64 ",
    "quoted-printable; x=y",
)
CONTENT_TYPES = (
    "text/plain",
    "text/html",
    "multipart/mixed",
    "multipart/alternative",
    "multipart/related",
    "multipart/digest",
    "multipart/report",
    "message/rfc822",
    "message/delivery-status",
    "message/partial",
    "application/octet-stream",
    "application/zip",
    "image/png",
    "text/calendar",
    "multipart",
    "text",
    "",
    "x/y/z",
)
_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)', re.I)
_CHARSET = re.compile(rb"charset=\"?[^\";\r\n]*", re.I)
_CTE = re.compile(rb"(Content-Transfer-Encoding:)[^\r\n]*", re.I)


def seed_messages():
    """The messages the fuzzer starts from: the corpus, a mailbox, hostile HTML."""
    corpus = mail_corpus.malformed_corpus()
    corpus.pop("huge_attachment")  # 4 MB: mutating it costs time and finds nothing new
    seeds = list(corpus.values()) + mail_corpus.many_messages(12, seed=3)
    for index, snippet in enumerate(HOSTILE_HTML):
        seeds.append(
            mail_corpus._base(f"Hostile {index}", ctype="text/html; charset=utf-8")
            + b"\r\n<html><body><p>before</p>"
            + snippet.encode()
            + b"<p>after</p></body></html>\r\n"
        )
    return seeds


SEEDS = seed_messages()


def _random_bytes(rng, size):
    # Structure-bearing characters are over-represented: they are what parsers trip on.
    alphabet = b"\x00\r\n\t :;=?\"'<>-_/\\%@\x80\xc3\xa9\xff\xfe" + bytes(range(32, 127))
    return bytes(rng.choice(alphabet) for _ in range(size))


def _header(rng):
    ctype = rng.choice(CONTENT_TYPES)
    charset = rng.choice(CHARSETS)
    boundary = rng.choice(("B", "XYZ", "--", "", "b" * 80, _random_bytes(rng, 6).decode("latin-1")))
    choices = (
        f'Content-Type: {ctype}; charset="{charset}"; boundary="{boundary}"',
        f"Content-Transfer-Encoding: {rng.choice(ENCODINGS)}",
        f"Subject: =?{charset}?{rng.choice('BQbq')}?{_random_bytes(rng, 12).decode('latin-1')}?=",
        f"From: =?{charset}?Q?evil=40x?= <{_random_bytes(rng, 5).decode('latin-1')}@x>",
        f"Message-ID: <{rng.choice(('shared', 'x' * 1200, ''))}@fuzz.example>",
        f"Date: {_random_bytes(rng, 20).decode('latin-1')}",
        "Content-Disposition: attachment; filename*=utf-8''%FF%FE%00..%2F..%2Fetc%2Fpasswd",
        "Content-ID: <" + _random_bytes(rng, 10).decode("latin-1") + ">",
        "To: " + ", ".join(f"r{n}@fuzz.example" for n in range(rng.randrange(1, 50))),
    )
    return rng.choice(choices).encode("utf-8", "surrogateescape")


def _mutate_once(raw, rng):
    if not raw:
        return _random_bytes(rng, rng.randrange(1, 200))
    operation = rng.randrange(12)
    position = rng.randrange(len(raw) + 1)
    if operation == 0:  # flip a few bytes
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if operation == 1:  # truncate
        return raw[:position]
    if operation == 2:  # splice a header in at a line start
        start = raw.rfind(b"\n", 0, position) + 1
        return raw[:start] + _header(rng) + b"\r\n" + raw[start:]
    if operation == 3:  # a body from another message
        other = rng.choice(SEEDS)
        return raw.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + other.partition(b"\r\n\r\n")[2]
    if operation == 4:  # boundaries, declared or random, where they do not belong
        declared = _BOUNDARY.findall(raw)
        boundary = rng.choice(declared) if declared and rng.random() < 0.7 else b"B"
        line = b"\r\n--" + boundary + rng.choice((b"", b"--", b" ")) + b"\r\n"
        return raw[:position] + line + raw[position:]
    if operation == 5:  # another charset everywhere
        charset = rng.choice(CHARSETS).encode("utf-8", "surrogateescape")
        return _CHARSET.sub(lambda _m: b'charset="' + charset + b'"', raw)
    if operation == 6:  # another transfer encoding
        encoding = rng.choice(ENCODINGS).encode()
        return _CTE.sub(lambda m: m.group(1) + b" " + encoding, raw)
    if operation == 7:  # hostile HTML anywhere
        return raw[:position] + rng.choice(HOSTILE_HTML).encode() + raw[position:]
    if operation == 8:  # random bytes
        return raw[:position] + _random_bytes(rng, rng.randrange(1, 64)) + raw[position:]
    if operation == 9:  # duplicate a region
        end = min(len(raw), position + rng.randrange(1, 400))
        return raw[:end] + raw[position:end] * rng.randrange(1, 4) + raw[end:]
    if operation == 10:  # line endings
        return rng.choice((raw.replace(b"\r\n", b"\n"), raw.replace(b"\r\n", b"\r"), raw))
    # nest the message in a random container
    ctype = rng.choice(("message/rfc822", "multipart/mixed", "multipart/alternative"))
    if ctype == "message/rfc822":
        return b"From: fwd@fuzz.example\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    return (
        f'From: fwd@fuzz.example\r\nContent-Type: {ctype}; boundary="N"\r\n\r\n--N\r\n'.encode()
        + raw
        + b"\r\n--N--\r\n"
    )


def random_mime(rng, depth=0):
    """A random MIME tree, built from scratch (random types, charsets, encodings)."""
    ctype = rng.choice(CONTENT_TYPES) if depth < 4 else "text/html"
    charset = rng.choice(CHARSETS)
    headers = (
        f'Content-Type: {ctype}; charset="{charset}"; boundary="b{depth}"\r\n'
        f"Content-Transfer-Encoding: {rng.choice(ENCODINGS)}\r\n"
    )
    if depth == 0:
        headers = "From: random@fuzz.example\r\nSubject: random\r\n" + headers
    if ctype.startswith("multipart/"):
        body = b"".join(
            f"--b{depth}\r\n".encode() + random_mime(rng, depth + 1) + b"\r\n"
            for _ in range(rng.randrange(0, 4))
        ) + rng.choice((f"--b{depth}--\r\n".encode(), b""))
    elif ctype == "message/rfc822":
        body = random_mime(rng, depth + 1)
    else:
        text = rng.choice(HOSTILE_HTML) + " caf\xe9 " + _random_bytes(rng, 30).decode("latin-1")
        try:
            body = text.encode(charset or "utf-8", "replace")
        except (LookupError, TypeError, ValueError, UnicodeError):
            body = text.encode("utf-8", "surrogateescape")
        if "base64" in headers.lower() and rng.random() < 0.8:
            body = base64.encodebytes(body)
    return headers.encode("utf-8", "surrogateescape") + b"\r\n" + body


def fuzzed_message(rng):
    """One hostile message: a mutated seed, a random MIME tree, or random bytes."""
    kind = rng.random()
    if kind < 0.75:
        raw = rng.choice(SEEDS)
        for _ in range(rng.randrange(1, 5)):
            raw = _mutate_once(raw, rng)
        return raw
    if kind < 0.95:
        return random_mime(rng)
    return rng.choice((b"", b"Subject: x\r\n\r\n")) + _random_bytes(rng, rng.randrange(0, 500))


# hypothesis drives a random.Random it can shrink; the mutations stay plain Python so
# that the Dovecot test below can run them with a fixed seed too.
FUZZED = st.randoms(use_true_random=False).map(fuzzed_message)
FUZZ_SETTINGS = {
    "derandomize": True,  # the same examples on every run: CI is reproducible
    "database": None,  # no example database written into the work tree
    "deadline": None,  # time is bounded by the example counts, not per example
    "print_blob": False,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}

# Tags that must never survive sanitising, and URL schemes that run code.
_FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "base", "meta", "link", "style", "frame"}
_CODE_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "livescript:")
_CONTROL = re.compile(r"[\x00-\x20]+")


def unsafe_html(body):
    """Return what in ``body`` could execute in a browser (empty list: nothing)."""
    if not body:
        return []
    text = str(body)
    found = []
    if "<script" in text.lower():
        found.append("<script")
    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except Exception as exc:  # whatever lxml cannot read is reported
        return [f"unreadable HTML: {exc!r}"]
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions do not execute
        if element.tag.lower() in _FORBIDDEN_TAGS:
            found.append(f"<{element.tag}>")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{name}= on <{element.tag}>")
            compact = _CONTROL.sub("", value).lower()
            if compact.startswith(_CODE_SCHEMES) or any(
                f"url({scheme}" in compact or f"url('{scheme}" in compact
                for scheme in _CODE_SCHEMES
            ):
                found.append(f"{name}={value[:60]!r} on <{element.tag}>")
            if name.lower() == "style" and (
                "expression(" in compact or "behavior:" in compact or "-moz-binding" in compact
            ):
                found.append(f"style={value[:60]!r}")
    return found


class LogCapture(logging.Handler):
    """Keeps every record, formatted with its traceback, as production would log it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.texts.append(self.format(record))


class HostileInputCase(CrmMailSyncCase):
    """A mailbox on Dovecot and the helpers that import raw mail and account for it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uids = itertools.count(1)

    def setUp(self):
        super().setUp()
        login, password = self.new_mailbox("hostile")
        self.login = login
        self.account = self.create_account(login, password)
        self.folder = self.connect(self.account)["INBOX"]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def import_raw(self, raws):
        """Run the real import on ``raws`` as one batch from the account's INBOX."""
        items = [BatchItem(raw=raw, uid=next(self.uids)) for raw in raws]
        with mute_logger(GATEWAY_LOGGER):
            batch = self.Gateway._import_batch(self.folder, items)
        return items, {"imported": batch.imported, "quarantined": len(batch.failed)}

    def outcome(self, items):
        """Map each item's uid to its stored email or its quarantine entry."""
        uids = [item.uid for item in items]
        locations = self.env["crm.mail.email.location"].search(
            [("folder_id", "=", self.folder.id), ("uid", "in", uids)]
        )
        quarantined = self.env["crm.mail.quarantine"].search(
            [("folder_id", "=", self.folder.id), ("uid", "in", uids)]
        )
        return (
            {location.uid: location.email_id for location in locations},
            {entry.uid: entry for entry in quarantined},
        )

    def assert_nothing_lost(self, items):
        """Every message is stored, or quarantined with its exact bytes; no stored body
        can run code."""
        stored, quarantined = self.outcome(items)
        for item in items:
            uid, raw = item.uid, item.raw
            where = "both stored and quarantined" if uid in stored else "lost"
            self.assertTrue((uid in stored) != (uid in quarantined), f"{raw[:200]!r} is {where}")
            if uid in quarantined:
                entry = quarantined[uid]
                self.assertEqual(base64.b64decode(entry.raw_message or b""), raw)
                self.assertEqual(entry.raw_size, len(raw))
                # Only what the parser cannot read goes aside: a database error while
                # storing a readable message would be a bug hidden in the quarantine.
                with self.assertRaises(MessageParseError, msg=f"{entry.error}: {raw[:200]!r}"):
                    parse_message(raw)
            else:
                email = stored[uid]
                self.assertEqual(unsafe_html(email.body_html), [], f"{raw[:300]!r}")
        return stored, quarantined


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestHostileInput(HostileInputCase):
    # ------------------------------------------------------------------
    # 1. Fuzzing
    # ------------------------------------------------------------------

    @settings(max_examples=400, **FUZZ_SETTINGS)
    @given(raw=FUZZED)
    def test_fuzzed_mime_never_crashes_the_parser(self, raw):
        try:
            parsed = parse_message(raw)
        except MessageParseError:
            return
        for value in (parsed.subject, parsed.email_from, parsed.body_text, parsed.body_html):
            self.assertIsInstance(value, str)
        self.assertLessEqual(len(parsed.body_text), MAX_BODY_SIZE + 200)
        for attachment in parsed.attachments:
            self.assertIsInstance(attachment.content, bytes)
            self.assertNotIn("/", attachment.name)
            if attachment.truncated:
                self.assertEqual(attachment.content, b"")

    @settings(max_examples=30, **FUZZ_SETTINGS)
    @given(batch=st.lists(FUZZED, min_size=1, max_size=4))
    def test_fuzzed_batches_survive_the_import(self, batch):
        items, result = self.import_raw(batch)
        stored, quarantined = self.assert_nothing_lost(items)
        self.assertEqual(result["quarantined"], len(quarantined))

    def test_fuzzed_mailbox_syncs_without_loss(self):
        """Mutated messages served by Dovecot itself: the sync finishes, nothing lost."""
        rng = random.Random(20240506)
        messages = [fuzzed_message(rng) for _ in range(25)]
        messages = [raw for raw in messages if raw.strip()] + [self.message(subject="Sane")]
        login, password = self.new_mailbox("fuzz")
        # Straight into the Maildir: IMAP APPEND would normalise line endings.
        self.dovecot.seed(login, messages)
        account = self.create_account(login, password)
        folder = self.connect(account)["INBOX"]
        with mute_logger(GATEWAY_LOGGER):
            stats = self.sync(account)
        self.assertFalse(stats["failed"], account.last_error)
        self.assertEqual(account.state, "connected")
        with self.dovecot.imap(login) as conn:
            conn.select("INBOX", readonly=True)
            typ, data = conn.uid("SEARCH", None, "ALL")
            server_uids = [int(uid) for uid in data[0].split()]
            served = {}
            for uid in server_uids:
                typ, fetched = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
                served[uid] = fetched[0][1]
        self.assertEqual(len(server_uids), len(messages))
        self.folder = folder
        items = [BatchItem(uid=uid, raw=served[uid]) for uid in server_uids]
        stored, _quarantined = self.assert_nothing_lost(items)
        self.assertIn("Sane", stored[max(server_uids)].subject)

    # ------------------------------------------------------------------
    # 2. Hostile HTML
    # ------------------------------------------------------------------

    def test_hostile_html_is_sanitised_when_stored_and_shown(self):
        raws = [
            mail_corpus._base(f"Vector {index}", ctype="text/html; charset=utf-8")
            + b"\r\n<html><body><p>visible text</p>"
            + snippet.encode()
            + b"</body></html>\r\n"
            for index, snippet in enumerate(HOSTILE_HTML)
        ]
        # The sender is a known contact: the email is posted in its chatter too.
        partner = self.env["res.partner"].create({"name": "Corpus", "email": "corpus@example.com"})
        items, _result = self.import_raw(raws)
        stored, quarantined = self.assert_nothing_lost(items)
        self.assertFalse(quarantined)
        for item, snippet in zip(items, HOSTILE_HTML, strict=True):
            email = stored[item.uid]
            with self.subTest(snippet=snippet):
                self.assertIn("visible text", email.body_html)
                # What a user is shown: the form's body, read through the ORM as them...
                shown = email.with_user(self.mail_admin).read(["body_html"])[0]["body_html"]
                self.assertEqual(unsafe_html(shown), [])
                # ...and the copy in the contact's chatter.
                message = email.link_ids.filtered(
                    lambda link: link.res_model == "res.partner" and link.res_id == partner.id
                ).mail_message_id
                self.assertTrue(message, "the email is posted in the contact's chatter")
                self.assertEqual(unsafe_html(message.body), [])
        by_subject = {email.subject: str(email.body_html) for email in stored.values()}
        self.assertNotIn("alert(document.cookie)", by_subject["Vector 0"])
        self.assertIn('<img src="x">', by_subject["Vector 2"])  # the image stays, harmless
        self.assertNotIn("expression", by_subject["Vector 15"])
        self.assertNotIn("javascript", by_subject["Vector 16"])
        # Remote images and tracking pixels are kept in the stored body: the email is
        # archived as the sender wrote it. Nothing in them runs; whether they load
        # when the email is opened is the display's decision (the inbox blocks them
        # until the reader asks), not the archive's.
        self.assertIn('src="https://tracker.example/pixel.gif?u=1"', by_subject["Vector 20"])

    def test_body_is_sanitised_once_on_import_and_always_on_any_other_write(self):
        raw = (
            mail_corpus._base("Once", ctype="text/html; charset=utf-8")
            + b"\r\n<p>sanitise-once-marker</p><script>alert(1)</script>\r\n"
        )
        calls = []

        def counting(value, **options):
            if "sanitise-once-marker" in str(value):
                calls.append(value)
            return html_sanitize(value, **options)

        with patch("odoo.fields.html_sanitize", counting):
            items, _result = self.import_raw([raw])
        # Odoo's Html field would sanitise the body twice (database, then cache): the
        # costliest step of an import, done once.
        self.assertEqual(len(calls), 1)
        email = self.outcome(items)[0][items[0].uid]
        email.invalidate_recordset(["body_html"])
        stored = str(email.body_html)  # read back from the database
        self.assertIn("sanitise-once-marker", stored)
        self.assertNotIn("<script", stored)
        # Anything not coming through the import (a client, other code) is plain text
        # and goes through the sanitizer as with any Html field.
        email.write({"body_html": '<p>rewritten</p><img src="x" onerror="alert(1)">'})
        created = self.Email.create(
            {
                "message_id": "<created-directly@example.com>",
                "fingerprint": "created-directly",
                "body_html": "<p>direct</p><script>alert(2)</script>",
            }
        )
        (email | created).invalidate_recordset(["body_html"])
        self.assertIn("rewritten", str(email.body_html))
        self.assertNotIn("onerror", str(email.body_html))
        self.assertIn("direct", str(created.body_html))
        self.assertNotIn("<script", str(created.body_html))

    def test_hostile_text_body_is_escaped(self):
        """A text/plain body that looks like HTML is shown as text, never as markup."""
        raw = mail_corpus._base("Plain", ctype="text/plain; charset=utf-8") + (
            b'\r\n<script>alert(1)</script> <img src=x onerror="alert(1)">\r\n'
        )
        items, _result = self.import_raw([raw])
        stored, _quarantined = self.assert_nothing_lost(items)
        email = stored[items[0].uid]
        self.assertIn("<script>alert(1)</script>", email.body_text)
        self.assertIn("&lt;script&gt;", email.body_html)
