"""Raw messages for tests, the demo and the benchmark: no Odoo import here.

``simple_message`` builds one message, ``many_messages`` a realistic, deterministic
mailbox, and ``malformed_corpus`` the hostile and broken input the parser and the
sync must survive.
"""

import base64
import random
import uuid
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr

FIRST_NAMES = (
    "Anna Marek Zofia Jean Claire Pavel Lucie Tomasz Sophie Karel Eva Louis Jana "
    "Piotr Marie Hugo Alice Jakub Léa Ondřej"
).split()
LAST_NAMES = (
    "Nowak Dubois Novák Kowalski Martin Svoboda Bernard Wiśniewska Dvořák Petit "
    "Lewandowski Moreau Černý Laurent Zieliński Roux"
).split()
SUBJECTS = (
    "Quote request",
    "Invoice {n} overdue",
    "Meeting next week",
    "Re: Delivery of order {n}",
    "Problem with my account",
    "Question about pricing",
    "Fwd: Contract draft",
    "Support ticket follow-up",
    "Demande de devis {n}",
    "Dotaz na objednávku {n}",
    "Zapytanie ofertowe {n}",
)
WORDS = (
    "order delivery invoice price product contract meeting customer support request "
    "thanks please regards attached update schedule payment warranty quality team"
).split()


def simple_message(
    message_id=None,
    subject="Hello",
    sender="alice@example.com",
    to="bob@example.org",
    body="Hi",
    date=None,
    extra_headers=None,
):
    """Build one plain-text message as bytes.

    :param message_id: None for a random one, False for none at all
    :param date: datetime (naive means UTC) or None for now
    """
    date = date or datetime.now(timezone.utc)
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
    ]
    if message_id is None:
        message_id = f"<{uuid.uuid4().hex}@example.com>"
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    headers += list(extra_headers or ())
    headers += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


def _encode_header(text):
    """Return ``text`` as a header value: RFC 2047-encoded when not ASCII."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def _person(rng, domains):
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = rng.choice(domains)
    return f"{first} {last}", f"{first}.{last}@{domain}".lower().encode("ascii", "ignore").decode()


def many_messages(count, seed=0, senders=200, domains=40, size=None):
    """Return ``count`` varied, deterministic messages with unique Message-IDs.

    A mix of plain text, multipart/alternative HTML and small attachments, from
    ``senders`` distinct senders over ``domains`` domains. ``size`` pads every body
    to about that many bytes (for tests that need equal sizes).
    """
    rng = random.Random(seed)
    domain_names = [f"company{i}.example" for i in range(domains)]
    people = []
    for index in range(senders):
        name, addr = _person(rng, domain_names)
        local, _at, domain = addr.partition("@")
        people.append((name, f"{local}.{index}@{domain}"))
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    messages = []
    for index in range(count):
        name, addr = people[rng.randrange(len(people))]
        date = start + timedelta(minutes=7 * index + rng.randrange(5))
        subject = rng.choice(SUBJECTS).format(n=rng.randrange(1000, 9999))
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(30, 300)))
        if size:
            text = (text + " ") * (size // max(len(text), 1) + 1)
            text = text[:size]
        kind = rng.random() if not size else 0
        # Non-ASCII names and subjects travel RFC 2047-encoded, as real mailers send them.
        headers = (
            f"From: {formataddr((name, addr))}\r\n"
            f"To: Support <support@crm-mail-sync.test>\r\n"
            f"Subject: {_encode_header(subject)}\r\n"
            f"Date: {format_datetime(date)}\r\n"
            f"Message-ID: <s{seed}-{index}-{rng.randrange(1 << 30)}@{addr.split('@')[1]}>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        if kind < 0.5:
            body = (
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n" + text + "\r\n"
            )
        else:
            boundary = f"b{seed}x{index}"
            html_part = f"<html><body><p>{text}</p><p><b>{name}</b></p></body></html>"
            alternative = (
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html_part}\r\n"
                f"--{boundary}--\r\n"
            )
            body = f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            if kind > 0.85:
                # With a file: mixed[alternative[text, html], pdf], like mail clients build it.
                outer = f"m{seed}x{index}"
                payload = base64.encodebytes(rng.randbytes(rng.randrange(500, 3000))).decode()
                body = (
                    f'Content-Type: multipart/mixed; boundary="{outer}"\r\n\r\n'
                    f"--{outer}\r\n{body}{alternative}"
                    f'--{outer}\r\nContent-Type: application/pdf; name="doc{index}.pdf"\r\n'
                    f'Content-Disposition: attachment; filename="doc{index}.pdf"\r\n'
                    f"Content-Transfer-Encoding: base64\r\n\r\n{payload}"
                    f"--{outer}--\r\n"
                )
            else:
                body += alternative
        messages.append((headers + body).encode("utf-8"))
    return messages


def _base(subject, extra="", ctype="text/plain; charset=utf-8", mid=None):
    mid = mid or f"<{uuid.uuid4().hex}@corpus.example>"
    return (
        "From: Corpus Sender <corpus@example.com>\r\n"
        "To: support@crm-mail-sync.test\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 06 May 2024 10:00:00 +0200\r\n"
        f"Message-ID: {mid}\r\n"
        "MIME-Version: 1.0\r\n"
        f"{extra}"
        f"Content-Type: {ctype}\r\n"
    ).encode()


# A valid 1x1 transparent PNG, for inline images.
PNG_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def malformed_corpus():
    """Return named raw messages: the broken and hostile input mailboxes hold.

    Every entry either parses (with warnings saying what was repaired) or is
    unusable enough for ``MessageParseError``; none may crash the parser.
    """
    corpus = {}
    corpus["broken_boundary"] = _base(
        "Broken boundary", ctype='multipart/mixed; boundary="XYZ"'
    ) + (
        b"\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nsecond part, no closing boundary\r\n"
    )
    corpus["bad_base64"] = (
        _base("Bad base64", extra="Content-Transfer-Encoding: base64\r\n")
        + b"\r\nSGVsbG8gd29y!!!bGQ=broken==\r\n"
    )
    corpus["unknown_charset"] = (
        _base("Unknown charset", ctype="text/plain; charset=x-no-such-charset")
        + b"\r\nCaf\xc3\xa9 cr\xc3\xa8me\r\n"
    )
    corpus["wrong_charset_latin1_declared_utf8"] = (
        _base(
            "Wrong charset",
            ctype="text/plain; charset=utf-8",
            extra="Content-Transfer-Encoding: 8bit\r\n",
        )
        + b"\r\nCaf\xe9 cr\xe8me br\xfbl\xe9e\r\n"
    )
    corpus["rfc2047_subject_and_from"] = (
        b"From: =?utf-8?q?Ond=C5=99ej_Dvo=C5=99=C3=A1k?= <ondrej@example.cz>\r\n"
        b"To: support@crm-mail-sync.test\r\n"
        b"Subject: =?utf-8?b?xb1sdcWlb3XEjWvDvSBrxa/FiA==?= =?iso-8859-2?q?_=BElu=BBou=E8k=FD?=\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <rfc2047@corpus.example>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nDobr\xc3\xbd den\r\n"
    )
    corpus["rfc2231_filename"] = _base(
        "RFC 2231 filename", ctype='multipart/mixed; boundary="B2231"'
    ) + (
        b"\r\n--B2231\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        b"--B2231\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%C5%BE%C3%A1dost.txt\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--B2231--\r\n"
    )
    corpus["missing_date_and_from"] = (
        b"To: support@crm-mail-sync.test\r\nSubject: No date, no sender\r\n"
        b"Message-ID: <nodate@corpus.example>\r\n\r\nWho sent this?\r\n"
    )
    corpus["eight_bit_headers"] = (
        b"From: Fran\xe7ois <francois@example.fr>\r\nTo: support@crm-mail-sync.test\r\n"
        b"Subject: R\xe9sum\xe9 \xe0 revoir\r\nDate: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <8bit@corpus.example>\r\n\r\nCorps du message\r\n"
    )
    inner = simple_message(subject="Inner message", body="inner body text")
    corpus["nested_rfc822"] = _base("Forwarded", ctype='multipart/mixed; boundary="NEST"') + (
        b"\r\n--NEST\r\nContent-Type: text/plain\r\n\r\nouter body text\r\n"
        b"--NEST\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--NEST--\r\n"
    )
    big = base64.encodebytes(b"\x00\x01binary" * (3 * 1024 * 1024 // 8))
    corpus["huge_attachment"] = _base(
        "Huge attachment", ctype='multipart/mixed; boundary="HUGE"'
    ) + (
        b"\r\n--HUGE\r\nContent-Type: text/plain\r\n\r\nsee the big file\r\n"
        b"--HUGE\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + big + b"--HUGE--\r\n"
    )
    corpus["multipart_alternative"] = _base(
        "Alternative", ctype='multipart/alternative; boundary="ALT"'
    ) + (
        b"\r\n--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        b"--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>html <b>version</b></p>\r\n--ALT--\r\n"
    )
    corpus["html_only_with_script"] = _base("Hostile HTML", ctype="text/html; charset=utf-8") + (
        b"\r\n<html><body><p>Hello</p><script>alert(document.cookie)</script>"
        b'<img src="x" onerror="alert(1)"><a href="javascript:alert(2)">click</a>'
        b'<img src="https://tracker.example/pixel.gif" width="1" height="1">'
        b'<div style="width: expression(alert(3))">styled</div></body></html>\r\n'
    )
    corpus["no_message_id"] = simple_message(message_id=False, subject="Without id")
    corpus["empty_body"] = _base("Empty body") + b"\r\n"
    rng = random.Random(7)
    corpus["binary_garbage"] = b"Subject: garbage\r\n\r\n" + rng.randbytes(2048)

    # Beyond the basic list: cases seen in real mailboxes that broke parsers.
    corpus["inline_image_cid"] = _base("Inline logo", ctype='multipart/related; boundary="REL"') + (
        b"\r\n--REL\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Our logo: <img src="cid:logo123@corpus.example"></p>\r\n'
        b"--REL\r\nContent-Type: image/png\r\nContent-ID: <logo123@corpus.example>\r\n"
        b"Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PNG_PIXEL)
        + b"--REL\r\nContent-Type: image/png\r\nContent-ID: <unused@corpus.example>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PNG_PIXEL)
        + b"--REL--\r\n"
    )
    corpus["malformed_encoded_words"] = (
        b"From: =?x-bogus?Q?Caf=E9_Owner?= <owner@cafe.example>\r\n"
        b"To: support@crm-mail-sync.test\r\n"
        b"Subject: =?utf-8?B?SGVsbG8g?= =?utf-8?Q?w=C3=B6rld?= =?utf-8?B?x?= end\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <badwords@corpus.example>\r\n\r\nbody\r\n"
    )
    corpus["eight_bit_structural_headers"] = (
        b"From: sender@example.com\r\nTo: support@crm-mail-sync.test\r\n"
        b"Subject: 8-bit in ids\r\nMessage-ID: <caf\xe9@corpus.example>\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200 (\xe9t\xe9)\r\n"
        b"Content-Type: text/plain; charset=utf-8; format=fl\xf6wed\r\n\r\nbody\r\n"
    )
    corpus["multipart_without_boundary"] = _base("No boundary", ctype="multipart/mixed") + (
        b"\r\nJust text despite the multipart type\r\n"
    )
    corpus["bogus_codec_charset"] = (
        _base("Codec name as charset", ctype="text/plain; charset=zlib")
        + b"\r\nR\xe9sum\xe9 attached\r\n"
    )
    corpus["garbage_header_line"] = (
        b"From: Corpus Sender <corpus@example.com>\r\nTo: support@crm-mail-sync.test\r\n"
        b"This line is not a header\r\nSubject: After the garbage\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200\r\nMessage-ID: <garbage-line@corpus.example>\r\n"
        b"\r\nbody after garbage\r\n"
    )
    corpus["encoded_display_name_spoof"] = (
        b"From: =?utf-8?q?boss=40ourcompany=2Eexample_=3Cboss=40ourcompany=2Eexample=3E?=\r\n"
        b" <attacker@evil.example>\r\n"
        b"To: =?utf-8?q?Doe=2C_John?= <john@customer.example>\r\n"
        b"Subject: Urgent transfer\r\nDate: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <spoof@corpus.example>\r\n\r\nPlease pay.\r\n"
    )
    corpus["bad_quoted_printable"] = (
        _base("Bad QP", extra="Content-Transfer-Encoding: quoted-printable\r\n")
        + b"\r\nCaf=C3=A9 =ZZ broken=\r\n soft break=3\r\nend=\r\n"
    )
    corpus["missing_content_type"] = (
        b"From: old@mailer.example\r\nTo: support@crm-mail-sync.test\r\n"
        b"Subject: No MIME headers\r\nDate: Mon, 06 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <nomime@corpus.example>\r\n\r\nGr\xfc\xdfe aus M\xfcnchen\r\n"
    )
    corpus["latin1_declared_cp1252_quotes"] = (
        _base("Smart quotes", ctype="text/plain; charset=iso-8859-1")
        + b"\r\n\x93Quoted\x94 \x80 price\r\n"
    )
    corpus["iso_2022_jp"] = (
        _base(
            "=?iso-2022-jp?b?GyRCJUYlOSVIGyhC?=",
            ctype="text/plain; charset=iso-2022-jp",
            extra="Content-Transfer-Encoding: 7bit\r\n",
        )
        + b"\r\n"
        + "テストです".encode("iso-2022-jp")
        + b"\r\n"
    )
    corpus["glued_base64"] = _base("Glued base64", ctype='multipart/mixed; boundary="GLUE"') + (
        b"\r\n--GLUE\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
        b'--GLUE\r\nContent-Type: text/plain; name="glued.txt"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"aGVsbG8=\r\nIHdvcmxk\r\nIQ==\r\n--GLUE--\r\n"
    )
    corpus["nested_rfc822_base64"] = _base(
        "Forwarded, encoded", ctype='multipart/mixed; boundary="NB64"'
    ) + (
        b"\r\n--NB64\r\nContent-Type: text/plain\r\n\r\nsee the forwarded message\r\n"
        b"--NB64\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(simple_message(subject="Encoded inner", body="encoded inner body"))
        + b"--NB64--\r\n"
    )
    corpus["delivery_status_report"] = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
        b"To: corpus@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200\r\nMessage-ID: <dsn@mx.example>\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"\r\n\r\n'
        b"--DSN\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--DSN\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@nowhere.example\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n"
        b"--DSN\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: corpus@example.com\r\nSubject: original\r\n\r\n--DSN--\r\n"
    )
    return corpus


def nested_multipart(raw, levels, sender=None):
    """``raw`` (bytes of a part) wrapped in ``levels`` multipart/mixed levels, each with
    a text part "level N text" before it; ``sender``, a format of ``level``, gives each
    level its own From."""
    for level in range(1, levels + 1):
        sender_line = f"From: {sender.format(level=level)}\r\n" if sender else ""
        raw = (
            (
                f"{sender_line}Subject: level {level}\r\n"
                f'Content-Type: multipart/mixed; boundary="L{level}"\r\n\r\n'
                f"--L{level}\r\nContent-Type: text/plain\r\n\r\nlevel {level} text\r\n"
                f"--L{level}\r\n"
            ).encode()
            + raw
            + f"\r\n--L{level}--\r\n".encode()
        )
    return raw
