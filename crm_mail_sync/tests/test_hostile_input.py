# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Hostile input: fuzzed MIME, hostile HTML, resource bombs, forged ids, secrets.

The fuzzing is deterministic (hypothesis with ``derandomize``, fixed seeds), so a
failure found once is found again by CI. Messages go through the real import
pipeline: a real Dovecot folder and PostgreSQL, no mocks.
"""

import base64
import io
import itertools
import logging
import random
import re
import time
import zipfile
from unittest.mock import patch

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.mail import html_sanitize

from odoo.addons.crm_mail_sync.lib.mime_parser import (
    MAX_BODY_SIZE,
    MAX_MIME_DEPTH,
    MB,
    MessageParseError,
    parse_message,
)

from . import mail_corpus
from .common import CrmMailSyncCase

EMAIL_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_email"
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


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestHostileInput(CrmMailSyncCase):
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
        items = [{"raw": raw, "uid": next(self.uids)} for raw in raws]
        with mute_logger(EMAIL_LOGGER):
            result = self.Email._import_messages(self.folder, items)
        return items, result

    def outcome(self, items):
        """Map each item's uid to its stored email or its quarantine entry."""
        uids = [item["uid"] for item in items]
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
            uid, raw = item["uid"], item["raw"]
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
        with mute_logger(EMAIL_LOGGER):
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
        items = [{"uid": uid, "raw": served[uid]} for uid in server_uids]
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
            email = stored[item["uid"]]
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
        email = self.outcome(items)[0][items[0]["uid"]]
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
        email = stored[items[0]["uid"]]
        self.assertIn("<script>alert(1)</script>", email.body_text)
        self.assertIn("&lt;script&gt;", email.body_html)

    # ------------------------------------------------------------------
    # 3. Bounds
    # ------------------------------------------------------------------

    def test_zip_bomb_is_stored_as_the_zip(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("zeros.bin", "w") as member:
                chunk = bytes(MB)
                for _ in range(200):  # 200 MB once expanded
                    member.write(chunk)
            inner = buffer.getvalue()
            archive.writestr("nested.zip", inner)  # and a zip in the zip
        bomb = buffer.getvalue()
        self.assertLess(len(bomb), MB)
        raw = mail_corpus._base("Zip bomb", ctype='multipart/mixed; boundary="Z"') + (
            b"\r\n--Z\r\nContent-Type: text/plain\r\n\r\nsee the archive\r\n"
            b'--Z\r\nContent-Type: application/zip; name="report.zip"\r\n'
            b'Content-Disposition: attachment; filename="report.zip"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(bomb) + b"--Z--\r\n"
        )
        uid = self.dovecot.append(self.login, "INBOX", raw)
        started = time.monotonic()
        self.assertFalse(self.sync(self.account)["failed"])
        self.assertLess(time.monotonic() - started, 30)
        email = (
            self.env["crm.mail.email.location"]
            .search([("folder_id", "=", self.folder.id), ("uid", "=", uid)])
            .email_id
        )
        self.assertEqual(email.attachment_ids.mapped("name"), ["report.zip"])
        attachment = email.attachment_ids
        self.assertEqual(attachment.raw, bomb)
        self.assertEqual(attachment.file_size, len(bomb))
        self.assertEqual(attachment.mimetype, "application/zip")
        self.assertLess(len(attachment.index_content or ""), 100)  # not read for indexing

    def _nested(self, depth, container):
        raw = self.message(subject="innermost", body="the innermost body")
        for level in range(1, depth + 1):
            if container == "message/rfc822":
                raw = (
                    f"From: fwd{level}@example.com\r\nTo: support@crm-mail-sync.test\r\n"
                    f"Subject: level {level}\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: message/rfc822\r\n\r\n"
                ).encode() + raw
            else:
                raw = (
                    (
                        f"From: fwd{level}@example.com\r\nSubject: level {level}\r\n"
                        f'Content-Type: multipart/mixed; boundary="L{level}"\r\n\r\n'
                        f"--L{level}\r\nContent-Type: text/plain\r\n\r\nlevel {level} text\r\n"
                        f"--L{level}\r\n"
                    ).encode()
                    + raw
                    + f"\r\n--L{level}--\r\n".encode()
                )
        return raw

    def test_deep_nesting_is_bounded(self):
        raws = [
            self._nested(depth, container)
            for depth in (200, 5000)
            for container in ("message/rfc822", "multipart/mixed")
        ]
        started = time.monotonic()
        for raw in raws:
            parsed = parse_message(raw)
            self.assertTrue(
                any(f"more than {MAX_MIME_DEPTH} levels" in w for w in parsed.warnings),
                parsed.warnings,
            )
        items, result = self.import_raw(raws)
        self.assertLess(time.monotonic() - started, 30)
        stored, quarantined = self.assert_nothing_lost(items)
        self.assertFalse(quarantined, [entry.error for entry in quarantined.values()])
        for item in items:
            email = stored[item["uid"]]
            self.assertTrue(email.subject.startswith("level "), email.subject)
            self.assertIn(f"more than {MAX_MIME_DEPTH} levels", email.parse_warnings)
        # A forwarded chain keeps the forwarded message, whole, as an .eml file.
        forwarded = stored[items[0]["uid"]]
        self.assertEqual(forwarded.attachment_ids.mapped("name"), ["level 199.eml"])
        self.assertIn(b"the innermost body", forwarded.attachment_ids.raw)
        # Multipart nesting keeps the text of the levels it reads.
        self.assertIn("level 200 text", stored[items[1]["uid"]].body_text)

    def _recipients_message(self, count, known):
        addresses = [partner.email for partner in known] + [
            f"Person {n} <person{n}@crowd{n % 97}.example>" for n in range(count - len(known))
        ]
        return self.message(subject=f"{count} recipients", to=", ".join(addresses))

    def _import_counting(self, raw):
        queries = self.env.cr.sql_log_count
        started = time.monotonic()
        items, _result = self.import_raw([raw])
        self.env.flush_all()
        return items, self.env.cr.sql_log_count - queries, time.monotonic() - started

    def test_ten_thousand_recipients_are_stored_and_linked_in_bounded_time(self):
        known = self.env["res.partner"].create(
            [{"name": f"Known {n}", "email": f"known{n}@customer.example"} for n in range(3)]
        )
        lead = self.env["crm.lead"].create({"name": "Deal", "partner_id": known[0].id})
        # Same work apart from the crowd: the same three known contacts in both.
        small_items, small_queries, _small_time = self._import_counting(
            self._recipients_message(10, known)
        )
        items, queries, elapsed = self._import_counting(self._recipients_message(10_000, known))
        stored, _quarantined = self.assert_nothing_lost(items)
        email = stored[items[0]["uid"]]
        self.assertEqual(len(email.recipient_addresses.split(",")), 10_000)
        self.assertIn("person9996@crowd", email.email_to)
        linked = {(link.res_model, link.res_id) for link in email.link_ids}
        self.assertEqual(
            linked,
            {("res.partner", partner.id) for partner in known} | {("crm.lead", lead.id)},
        )
        # Linking looks addresses up per batch, not per recipient.
        self.assertLessEqual(queries, small_queries + 10)
        self.assertLess(elapsed, 20)

    def test_fifty_megabyte_body_is_cut_and_recorded(self):
        line = "All work and no play makes Jack a dull boy. " * 2 + "\r\n"
        body = line * (50 * MB // len(line))
        raw = self.message(subject="Huge body", body=body)
        self.assertGreater(len(raw), 50 * MB - 200)
        # Straight into the Maildir: the test is about the import, not APPEND speed.
        self.dovecot.seed(self.login, [raw])
        started = time.monotonic()
        stats = self.sync(self.account)
        elapsed = time.monotonic() - started
        self.assertFalse(stats["failed"], self.account.last_error)
        self.assertLess(elapsed, 60)
        email = self.emails_of(self.account)
        self.assertEqual(len(email), 1)
        self.assertLess(len(email.body_text), MAX_BODY_SIZE + 200)
        self.assertTrue(email.body_text.startswith("All work and no play"))
        # Slices: a failure must not print 2 MB of text.
        self.assertRegex(email.body_text[-200:], r"\[Body cut after 2\.0 MB of 4\d\.\d MB\]")
        self.assertIn("Body cut after", str(email.body_html)[-300:])
        self.assertIn("body cap and was cut", email.parse_warnings)
        # The whole text is over the attachment cap too: listed, not stored.
        self.assertIn("body.txt", email.body_text[-200:])
        self.assertFalse(email.attachment_ids)
        self.assertEqual(email.size, len(raw))

    def test_large_html_body_is_attached_whole(self):
        row = '<tr><td style="color:red">cell</td><td><a href="https://x.example/">l</a></td></tr>'
        html = "<table>" + row * (3 * MB // len(row)) + "</table>"
        raw = mail_corpus._base("Big HTML", ctype="text/html; charset=utf-8") + (
            b"\r\n" + html.encode() + b"\r\n"
        )
        started = time.monotonic()
        items, _result = self.import_raw([raw])
        self.assertLess(time.monotonic() - started, 30)
        stored, _quarantined = self.assert_nothing_lost(items)
        email = stored[items[0]["uid"]]
        self.assertLess(len(email.body_html), MAX_BODY_SIZE + 1000)
        self.assertEqual(email.attachment_ids.mapped("name"), ["body.html"])
        whole = email.attachment_ids.raw
        self.assertGreater(len(whole), 3 * MB - len(row))
        self.assertTrue(whole.startswith(b"<table>"))
        self.assertTrue(whole.rstrip().endswith(b"</table>"))

    # ------------------------------------------------------------------
    # 4. Forged Message-IDs and secrets
    # ------------------------------------------------------------------

    def test_forged_message_id_in_the_same_mailbox_stays_separate(self):
        genuine = self.message(message_id="<dup@example.com>", body="Genuine text")
        forged = self.message(message_id="<dup@example.com>", body="Forged text")
        items, _result = self.import_raw([genuine, forged])
        stored, _quarantined = self.assert_nothing_lost(items)
        first, second = (stored[item["uid"]] for item in items)
        self.assertNotEqual(first, second)
        self.assertIn("Genuine", first.body_text)
        self.assertIn("Forged", second.body_text)
        self.assertEqual(len(first.location_ids), 1)
        self.assertEqual(len(second.location_ids), 1)
        # A later batch re-delivering the forgery is recognised as the forgery.
        items, _result = self.import_raw([b"Delivered-To: x@example.com\r\n" + forged])
        again, _quarantined = self.assert_nothing_lost(items)
        self.assertEqual(again[items[0]["uid"]], second)

    def test_forged_message_id_exposes_nothing_to_the_forger(self):
        """A user whose mailbox holds a forgery of a group email sees only the forgery."""
        genuine = self.message(message_id="<secret-deal@example.com>", body="Price is 1M")
        items, _result = self.import_raw([genuine])
        victim = self.outcome(items)[0][items[0]["uid"]]
        # The forger knows the Message-ID and mails it to a user's personal mailbox.
        login, password = self.new_mailbox("forger")
        forged = self.message(message_id="<secret-deal@example.com>", body="Tell me the price")
        self.dovecot.append(login, "INBOX", forged)
        personal = self.create_personal_account(self.mail_user, login, password)
        personal.action_test_connection()
        personal.action_sync()
        as_user = self.Email.with_user(self.mail_user)
        seen = as_user.search([("message_id", "=", "<secret-deal@example.com>")])
        self.assertEqual(len(seen), 1)
        self.assertNotEqual(seen, victim)
        self.assertIn("Tell me the price", seen.body_text)
        self.assertEqual(victim.account_ids, self.account)
        with self.assertRaises(AccessError):
            victim.with_user(self.mail_user).read(["body_text"])
        # A forged Message-ID equal to another email's synthetic key does not merge either.
        anonymous = self.message(message_id=False, body="No id here")
        items, _result = self.import_raw([anonymous])
        keyless = self.outcome(items)[0][items[0]["uid"]]
        self.assertTrue(keyless.message_id.endswith("@crm-mail-sync.invalid>"))
        items, _result = self.import_raw([self.message(message_id=keyless.message_id)])
        impostor = self.outcome(items)[0][items[0]["uid"]]
        self.assertNotEqual(impostor, keyless)
        self.assertEqual(len(keyless.location_ids), 1)

    def _secret_leaks(self, secret, captured):
        """Where ``secret`` shows up: logs, account errors, chatter, tracking, bus."""
        leaks = [text for text in captured.texts if secret in text]
        self.env.flush_all()
        for table, columns in (
            ("mail_message", ("body", "subject", "record_name")),
            ("mail_tracking_value", ("old_value_char", "new_value_char")),
            ("mail_tracking_value", ("old_value_text", "new_value_text")),
            ("bus_bus", ("message",)),
            ("ir_logging", ("message",)),
            ("crm_mail_account", ("last_error", "name")),
        ):
            condition = " OR ".join(f"{column}::text LIKE %s" for column in columns)
            self.env.cr.execute(
                f"SELECT count(*) FROM {table} WHERE {condition}",
                [f"%{secret}%"] * len(columns),
            )
            if self.env.cr.fetchone()[0]:
                leaks.append(f"{table}.{'/'.join(columns)}")
        return leaks

    def test_password_never_leaks_from_a_failing_login(self):
        # Wrong passwords for a real mailbox: one with characters that get quoted and
        # escaped on the wire, and a non-ASCII one, which IMAP LOGIN cannot even send.
        secrets = ('Wrong"Secret\\4711', "Pässwört-Geheim-0815")
        login, _password = self.new_mailbox("leak")
        captured = LogCapture()
        module_logger = logging.getLogger("odoo.addons.crm_mail_sync")
        old_level = module_logger.level
        root = logging.getLogger()
        root.addHandler(captured)
        module_logger.setLevel(logging.DEBUG)
        # Tracking on (the shared set-up disables it): a tracked password would show.
        env = self.env(context=dict(self.env.context, tracking_disable=False))
        messages = []
        try:
            for secret in secrets:
                account = (
                    env["crm.mail.account"]
                    .with_user(self.mail_admin)
                    .create(self.account_values(login, secret, name=f"leak {secret[:4]}"))
                )
                with self.assertRaises(UserError) as caught:
                    account.action_test_connection()
                messages.append(str(caught.exception))
                # Logged as the warning production sees; captured by the root handler.
                with self.assertLogs(ACCOUNT_LOGGER, "WARNING") as warned:
                    notification = account.action_sync()
                captured.texts += warned.output
                messages.append(str(notification))
                self.assertEqual(account.sudo().state, "error")
                self.assertTrue(account.sudo().last_error)
                account.write({"password": secret + "-changed"})
                self.assertEqual(account.password, secret + "-changed")
                self.account.write({"name": "tracked rename"})
        finally:
            root.removeHandler(captured)
            module_logger.setLevel(old_level)
        for secret in secrets:
            with self.subTest(secret=secret):
                self.assertFalse([text for text in messages if secret in text])
                self.assertEqual(self._secret_leaks(secret, captured), [])
                self.assertEqual(self._secret_leaks(secret + "-changed", captured), [])

    def test_password_never_in_export_data(self):
        secret = "Export-Secret-2468"
        login, _password = self.new_mailbox("export")
        account = self.create_account(login, secret)
        owner = new_test_user(
            self.env,
            login="crm_mail_export_owner",
            email="export.owner@example.com",
            groups="base.group_user,base.group_allow_export,crm_mail_sync.group_crm_mail_user,"
            "crm_mail_sync.group_crm_mail_personal",
        )
        personal = self.create_personal_account(owner, login, secret)
        self.mail_admin.groups_id += self.env.ref("base.group_allow_export")
        fields_to_export = ["name", "password", "login"]
        for who, records in (
            ("the Emails administrator", account.with_user(self.mail_admin)),
            ("the owner", personal.with_user(owner)),
            ("the superuser", (account | personal).sudo()),
        ):
            with self.subTest(who=who):
                exported = records.export_data(fields_to_export)["datas"]
                self.assertEqual(exported[0][0], records[0].name)  # the export works...
                self.assertNotIn(secret, str(exported))  # ...without the password
        # The system group may read the secret column; an export still leaves it out.
        exported = (account | personal).sudo().export_data(["name", "password_secret"])
        self.assertNotIn(secret, str(exported))
        # Nor through a relation: a folder export reaching into its account.
        exported = self.folder.sudo().export_data(["name", "account_id/password"])["datas"]
        self.assertEqual(exported[0][0], "INBOX")
        self.assertNotIn(self.account.password, str(exported))
