"""Raw messages for tests, the demo and the benchmark: no Odoo import here.

``simple_message`` builds one message, ``many_messages`` a realistic, deterministic
mailbox, and ``malformed_corpus`` the hostile and broken input the parser and the
sync must survive.
"""

import base64
import random
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

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
        headers = (
            f"From: {name} <{addr}>\r\n"
            f"To: Support <support@crm-mail-sync.test>\r\n"
            f"Subject: {subject}\r\n"
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
            body = (
                f"Content-Type: multipart/{'mixed' if kind > 0.85 else 'alternative'}; "
                f'boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html_part}\r\n"
            )
            if kind > 0.85:
                payload = base64.encodebytes(rng.randbytes(rng.randrange(500, 3000))).decode()
                body += (
                    f'--{boundary}\r\nContent-Type: application/pdf; name="doc{index}.pdf"\r\n'
                    f'Content-Disposition: attachment; filename="doc{index}.pdf"\r\n'
                    f"Content-Transfer-Encoding: base64\r\n\r\n{payload}"
                )
            body += f"--{boundary}--\r\n"
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


def malformed_corpus():
    """Named raw messages covering the broken and hostile input a mailbox holds."""
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
    return corpus
