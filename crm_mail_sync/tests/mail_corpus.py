"""Raw messages for tests, the demo and the benchmark: no Odoo import here.

``simple_message`` builds one message, ``many_messages`` a realistic, deterministic
mailbox, ``malformed_corpus`` the hostile and broken input the parser and the sync
must survive, and ``corpus(kind, count, seed)`` the benchmark's corpora (plain text,
newsletters, attachments, multilingual, threads, CPython's email test messages).
"""

import base64
import glob
import importlib.util
import os
import quopri
import random
import sys
import sysconfig
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.parser import BytesHeaderParser
from email.utils import format_datetime, formataddr, parsedate_to_datetime

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


def many_messages(
    count, seed=0, senders=200, domains=40, size=None, known_senders=(), known_share=0.3
):
    """Return ``count`` varied, deterministic messages with unique Message-IDs.

    A mix of plain text, multipart/alternative HTML and small attachments, from
    ``senders`` distinct senders over ``domains`` domains. ``size`` pads every body
    to about that many bytes (for tests that need equal sizes).

    ``known_senders``: (name, address) pairs, such as the demo's contacts
    (``DEMO_CONTACTS``); about ``known_share`` of the messages then come from them.
    Without it the messages are the same as ever (tests and benchmarks rely on it).
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
        if known_senders and rng.random() < known_share:
            name, addr = known_senders[rng.randrange(len(known_senders))]
        else:
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


# ----------------------------------------------------------------------
# The benchmark's corpora: ``corpus(kind, count, seed)``
# ----------------------------------------------------------------------
#
# Deterministic (the same kind, count and seed give the same bytes) and streamed by
# ``iter_corpus`` so that a mailbox of 100,000 messages is never held in memory.
# About 400 senders per 2,000 messages, as in a busy sales mailbox.

CORPUS_KINDS = ("plain", "newsletter", "attachments", "multilingual", "threads", "cpython")
OUR_DOMAIN = "crm-mail-sync.test"
SENTENCES = (
    "Thank you for your quick answer about the delivery schedule.",
    "Could you send us an updated quote including the installation costs?",
    "The invoice attached to your last message does not match the order.",
    "We would like to move the meeting to Thursday afternoon if that suits you.",
    "Our team reviewed the contract draft and has a few remarks on the warranty.",
    "The parts arrived yesterday but two boxes were damaged during transport.",
    "Please confirm the shipping address before we release the order.",
    "As discussed on the phone, I am sending you the figures for the last quarter.",
    "Is the discount for volumes above five hundred units still valid?",
    "Let me know whether the new pricing applies to the pending orders as well.",
    "We need the signed purchase order by Friday to keep the production slot.",
    "I forwarded your request to our technical support, they will call you.",
    "The payment was made by bank transfer on Monday, please check on your side.",
    "Attached you will find the minutes of our last meeting.",
    "Could you add my colleague to the distribution list for the next releases?",
)
SIGNATURES = (
    "Best regards,\r\n{name}\r\n{company}\r\nPhone +33 1 23 45 67 89",
    "Kind regards,\r\n{name}\r\nSales department, {company}",
    "Thanks,\r\n{name}",
    "Regards,\r\n{name}\r\n--\r\n{company} | www.{domain}",
)
LANGUAGES = {
    "fr": {
        "charsets": ("iso-8859-1", "utf-8"),
        "names": (
            "François Lefèvre",
            "Hélène Moreau",
            "Jérôme Dupré",
            "Anaïs Bérard",
            "Cécile Gauthier",
            "Thérèse Lemaître",
        ),
        "subjects": (
            "Demande de devis n° {n}",
            "Réclamation : livraison du {n}",
            "Facture {n} à vérifier",
            "Rendez-vous de présentation",
            "Problème de connexion à l'espace client",
        ),
        "sentences": (
            "Bonjour, je vous écris au sujet de la commande passée la semaine dernière.",
            "Pourriez-vous me transmettre le devis détaillé avant vendredi ?",
            "La livraison prévue à Besançon a été décalée à cause des grèves.",
            "Merci de vérifier la facture : le montant hors taxes ne correspond pas.",
            "Nous avons reçu les pièces, mais l'emballage était abîmé.",
            "Je reste à votre disposition pour tout complément d'information.",
            "Le rendez-vous est confirmé pour jeudi à 14 h dans nos locaux de Nîmes.",
            "Cordialement, et à très bientôt.",
        ),
    },
    "cs": {
        "charsets": ("iso-8859-2", "windows-1250", "utf-8"),
        "names": (
            "Jiří Dvořák",
            "Petra Černá",
            "Tomáš Procházka",
            "Kateřina Růžičková",
            "Ondřej Šťastný",
            "Lucie Křížová",
        ),
        "subjects": (
            "Dotaz na objednávku č. {n}",
            "Cenová nabídka, doprava {n}",
            "Reklamace zboží",
            "Přesunutí schůzky na úterý",
            "Faktura č. {n} je uhrazena",
        ),
        "sentences": (
            "Dobrý den, posílám vám objednávku na příští měsíc.",
            "Prosím o zaslání cenové nabídky včetně dopravy do Českých Budějovic.",
            "Faktura byla uhrazena převodem včera odpoledne.",
            "Zboží dorazilo poškozené, přikládám fotografie obalu.",
            "Schůzku bychom rádi přesunuli na úterý v devět hodin.",
            "Děkuji za rychlou odpověď a přeji hezký den.",
            "Příliš žluťoučký kůň úpěl ďábelské ódy.",
            "S pozdravem a přáním pěkného dne.",
        ),
    },
    "pl": {
        "charsets": ("iso-8859-2", "windows-1250", "utf-8"),
        "names": (
            "Łukasz Wiśniewski",
            "Małgorzata Zając",
            "Paweł Król",
            "Agnieszka Wójcik",
            "Grzegorz Żółkiewski",
            "Katarzyna Dąbrowska",
        ),
        "subjects": (
            "Zapytanie ofertowe nr {n}",
            "Reklamacja: uszkodzona przesyłka",
            "Faktura {n} została opłacona",
            "Przełożenie spotkania na środę",
            "Pytanie o cenę dostawy do Łodzi",
        ),
        "sentences": (
            "Dzień dobry, przesyłam zamówienie na przyszły miesiąc.",
            "Proszę o przesłanie oferty cenowej wraz z kosztami dostawy do Łodzi.",
            "Faktura została opłacona przelewem w zeszły piątek.",
            "Towar dotarł uszkodzony, załączam zdjęcia opakowania.",
            "Czy możemy przełożyć spotkanie na środę o godzinie dziesiątej?",
            "Zażółć gęślą jaźń, jeśli czcionka działa poprawnie.",
            "Dziękuję za szybką odpowiedź.",
            "Z poważaniem i życzeniami miłego dnia.",
        ),
    },
}
ATTACHMENT_KINDS = (
    ("application/pdf", "pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00xl/workbook.xml",
    ),
)


def corpus(kind, count, seed=0):
    """Return ``count`` raw messages (bytes) of the benchmark corpus ``kind``.

    :param str kind: one of ``CORPUS_KINDS``
    :param int seed: another seed gives other messages (and other Message-IDs)
    """
    return list(iter_corpus(kind, count, seed))


def iter_corpus(kind, count, seed=0):
    """Yield the messages of ``corpus(kind, count, seed)`` one at a time."""
    if kind not in CORPUS_KINDS:
        raise ValueError(f"unknown corpus {kind!r}: one of {', '.join(CORPUS_KINDS)}")
    generator = globals()[f"_corpus_{kind}"]
    # A seed per kind: the corpora do not share senders or Message-IDs.
    rng = random.Random(seed * 1000 + CORPUS_KINDS.index(kind))
    return generator(rng, count, seed)


def _ascii_local(name):
    return (
        unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
        .encode("ascii", "ignore")
        .decode()
        .lower()
        .replace(" ", ".")
    )


def _senders(rng, count, names=None):
    """About 400 senders per 2,000 messages: (display name, address, company, domain)."""
    domains = [f"{rng.choice(WORDS)}-{i}.example" for i in range(max(4, count // 50))]
    people = []
    for index in range(max(5, count // 5)):
        name = rng.choice(names) if names else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        domain = rng.choice(domains)
        company = domain.split(".")[0].split("-")[0].title() + " Ltd"
        people.append((name, f"{_ascii_local(name)}.{index}@{domain}", company, domain))
    return people


def _date(index, rng):
    return datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(
        minutes=5 * index, seconds=rng.randrange(300)
    )


def _envelope(rng, kind, seed, index, sender, date, subject, to=None, extra=()):
    """The usual header block of a message from ``sender`` (str lines, ASCII)."""
    name, addr, _company, domain = sender
    message_id = f"<{kind}.{seed}.{index}.{rng.randrange(1 << 32):08x}@{domain}>"
    lines = [
        f"Return-Path: <{addr}>",
        f"Received: from mail.{domain} (mail.{domain} [198.51.100.{rng.randrange(1, 255)}])\r\n"
        f"\tby mx.{OUR_DOMAIN} with ESMTPS id {rng.randrange(1 << 40):010x}\r\n"
        f"\tfor <support@{OUR_DOMAIN}>; {format_datetime(date)}",
        f"From: {formataddr((name, addr)) if name.isascii() else _header_address(name, addr)}",
        f"To: {to or f'Support <support@{OUR_DOMAIN}>'}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        *extra,
        "MIME-Version: 1.0",
    ]
    return lines, message_id


def _header_address(name, addr, charset="utf-8", encoding="B"):
    return f"{_encoded_words(name, charset, encoding)} <{addr}>"


def _q_encode(data):
    return "".join(
        chr(byte)
        if (48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122 or byte in b"!*+-/")
        else "_"
        if byte == 32
        else f"={byte:02X}"
        for byte in data
    )


def _encoded_word(text, charset, encoding):
    data = text.encode(charset)
    payload = base64.b64encode(data).decode() if encoding == "B" else _q_encode(data)
    return f"=?{charset}?{encoding}?{payload}?="


def _encoded_words(text, charset, encoding):
    """``text`` as RFC 2047 encoded words of at most 75 characters, folded."""
    words, chunk = [], ""
    for char in text:
        if chunk and len(_encoded_word(chunk + char, charset, encoding)) > 75:
            words.append(_encoded_word(chunk, charset, encoding))
            chunk = ""
        chunk += char
    words.append(_encoded_word(chunk, charset, encoding))
    return "\r\n ".join(words)


def _paragraphs(rng, sentences, count):
    return [
        " ".join(rng.choice(sentences) for _ in range(rng.randrange(2, 6))) for _ in range(count)
    ]


def _html_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _corpus_plain(rng, count, seed):
    people = _senders(rng, count)
    for index in range(count):
        sender = people[rng.randrange(len(people))]
        date = _date(index, rng)
        subject = rng.choice(SUBJECTS).format(n=rng.randrange(1000, 9999))
        cc = []
        if rng.random() < 0.3:
            cc.append("Cc: " + ", ".join(formataddr(p[:2]) for p in rng.sample(people, 2)))
        lines, _mid = _envelope(
            rng, "plain", seed, index, sender, date, _encode_header(subject), extra=cc
        )
        greeting = f"Hello {rng.choice(FIRST_NAMES)},"
        body = "\r\n\r\n".join(
            [greeting]
            + _paragraphs(rng, SENTENCES, rng.randrange(1, 7))
            + [rng.choice(SIGNATURES).format(name=sender[0], company=sender[2], domain=sender[3])]
        )
        if rng.random() < 0.3:
            encoded = quopri.encodestring(body.encode("utf-8")).replace(b"\n", b"\r\n")
            lines += [
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable",
            ]
        else:
            encoded = body.encode("utf-8")
            lines += [
                "Content-Type: text/plain; charset=utf-8; format=flowed",
                "Content-Transfer-Encoding: 8bit",
            ]
        yield ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + encoded + b"\r\n"


NEWSLETTER_TOPICS = (
    "Spring collection",
    "Webinar: automate your sales pipeline",
    "Customer story",
    "Product update",
    "Tips and tricks",
    "Upcoming trade fairs",
    "Limited offer",
    "From our blog",
)


def _newsletter_html(rng, sender, index, target):
    """An e-mail HTML newsletter of about ``target`` bytes: nested tables, inline
    styles, many images and tracked links, a tracking pixel."""
    domain = sender[3]
    track = f"https://click.{domain}/t/{index:06d}"
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{sender[2]} newsletter</title><style>td{{font-family:Arial,sans-serif}}"
        ".btn{background:#1a73e8;color:#fff;padding:10px 18px;border-radius:4px}</style>"
        '</head><body style="margin:0;padding:0;background:#f4f4f4">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0">'
        f'<tr><td align="center"><a href="{track}/home?utm_source=newsletter">'
        f'<img src="https://cdn.{domain}/img/logo.png" width="180" height="48" '
        f'alt="{sender[2]}" style="display:block;border:0"></a></td></tr>'
    ]
    size = sum(len(p) for p in parts)
    article = 0
    while size < target:
        article += 1
        topic = rng.choice(NEWSLETTER_TOPICS)
        text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randrange(2, 5)))
        images = "".join(
            f'<td width="33%" style="padding:4px"><a href="{track}/a{article}i{i}?'
            f'utm_medium=email&amp;utm_campaign=c{index % 97}"><img src="https://cdn.{domain}'
            f'/img/{rng.randrange(1 << 30):08x}.jpg" width="180" height="120" '
            f'alt="{topic} {i}" style="display:block;border:0;width:100%"></a></td>'
            for i in range(rng.randrange(1, 4))
        )
        block = (
            '<tr><td style="padding:16px 24px;background:#ffffff">'
            f'<h2 style="font-size:20px;color:#222;margin:0 0 8px">{topic}</h2>'
            f'<table role="presentation" width="100%"><tr>{images}</tr></table>'
            f'<p style="font-size:14px;line-height:20px;color:#444">{_html_escape(text)} '
            f'<a href="{track}/a{article}/more" style="color:#1a73e8">Read more</a></p>'
            f'<p><a class="btn" href="{track}/a{article}/cta?ref=nl{index}">Discover</a>'
            f' &middot; <a href="{track}/a{article}/share">Share</a></p></td></tr>'
        )
        parts.append(block)
        size += len(block)
    parts.append(
        '<tr><td style="font-size:11px;color:#888;padding:24px">'
        f'<a href="{track}/unsubscribe">Unsubscribe</a> &middot; '
        f'<a href="{track}/preferences">Preferences</a> &middot; '
        f'<a href="https://www.{domain}/privacy">Privacy</a><br>{sender[2]}, 12 Market '
        "Street</td></tr></table>"
        f'<img src="https://open.{domain}/o/{index:06d}.gif" width="1" height="1" alt="">'
        "</body></html>"
    )
    return "".join(parts)


def _corpus_newsletter(rng, count, seed):
    people = _senders(rng, count)
    for index in range(count):
        sender = people[rng.randrange(len(people))]
        date = _date(index, rng)
        subject = f"{sender[2]}: {rng.choice(NEWSLETTER_TOPICS)} ({date:%B %Y})"
        lines, _mid = _envelope(
            rng,
            "newsletter",
            seed,
            index,
            sender,
            date,
            subject,
            extra=(
                f"List-Unsubscribe: <https://click.{sender[3]}/u/{index:06d}>",
                f"List-Id: {sender[2]} news <news.{sender[3]}>",
            ),
        )
        html = _newsletter_html(rng, sender, index, rng.randrange(30_000, 80_000))
        text = "\r\n\r\n".join(_paragraphs(rng, SENTENCES, rng.randrange(4, 12)))
        boundary = f"=_nl{seed}_{index}_{rng.randrange(1 << 32):08x}"
        html_qp = quopri.encodestring(html.encode("utf-8")).replace(b"\n", b"\r\n")
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        yield (
            ("\r\n".join(lines) + "\r\n\r\n").encode()
            + f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n".encode()
            + text.encode("utf-8")
            + f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode()
            + html_qp
            + f"\r\n--{boundary}--\r\n".encode()
        )


def _b64_lines(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _corpus_attachments(rng, count, seed):
    people = _senders(rng, count)
    for index in range(count):
        sender = people[rng.randrange(len(people))]
        date = _date(index, rng)
        mime, ext, magic = rng.choice(ATTACHMENT_KINDS)
        label = rng.choice(("Offer", "Invoice", "Contract", "Specification", "Report"))
        filename = f"{label}_{date:%Y%m%d}_{index}.{ext}"
        subject = f"{label} {rng.randrange(1000, 9999)} ({ext.upper()} attached)"
        lines, _mid = _envelope(rng, "attachments", seed, index, sender, date, subject)
        # 100 KB to 1 MB, log-uniform: many small files, some large ones.
        size = int(100_000 * 10 ** rng.random())
        document = magic + rng.randbytes(size - len(magic))
        image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(rng.randrange(5_000, 60_000))
        cid = f"logo{index}.{rng.randrange(1 << 32):08x}@{sender[3]}"
        text = "\r\n\r\n".join(
            [f"Hello,\r\n\r\nplease find the {label.lower()} attached."]
            + _paragraphs(rng, SENTENCES, rng.randrange(1, 3))
        )
        html = (
            f"<html><body><p>{_html_escape(text)}</p><p>{sender[0]}<br>"
            f'<img src="cid:{cid}" alt="logo" width="120"></p></body></html>'
        )
        mixed, related, alternative = (f"=_{tag}{seed}_{index}" for tag in ("m", "r", "a"))
        body = (
            f'--{mixed}\r\nContent-Type: multipart/related; boundary="{related}"\r\n\r\n'
            f'--{related}\r\nContent-Type: multipart/alternative; boundary="{alternative}"'
            f"\r\n\r\n--{alternative}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
            f"--{alternative}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{alternative}--\r\n"
            f'--{related}\r\nContent-Type: image/png; name="logo.png"\r\n'
            f'Content-ID: <{cid}>\r\nContent-Disposition: inline; filename="logo.png"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        body += _b64_lines(image)
        body += (
            f'--{related}--\r\n--{mixed}\r\nContent-Type: {mime}; name="{filename}"\r\n'
            f'Content-Disposition: attachment; filename="{filename}"; size={size}\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        body += _b64_lines(document) + f"--{mixed}--\r\n".encode()
        lines.append(f'Content-Type: multipart/mixed; boundary="{mixed}"')
        yield ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _corpus_multilingual(rng, count, seed):
    people = {
        lang: _senders(rng, count // 3 + 1, names=spec["names"]) for lang, spec in LANGUAGES.items()
    }
    for index in range(count):
        lang = rng.choice(tuple(LANGUAGES))
        spec = LANGUAGES[lang]
        sender = people[lang][rng.randrange(len(people[lang]))]
        name, addr, _company, domain = sender
        date = _date(index, rng)
        body_charset = rng.choice(spec["charsets"])
        # Mixed charsets: the headers are often encoded otherwise than the body.
        header_charset = body_charset if rng.random() < 0.5 else rng.choice(spec["charsets"])
        subject = rng.choice(spec["subjects"]).format(n=rng.randrange(100, 9999))
        style = rng.random()
        message_id = f"<multilingual.{seed}.{index}.{rng.randrange(1 << 32):08x}@{domain}>"
        if style < 0.15:
            # Raw 8-bit headers, in the body's charset, as some old mailers send them.
            subject_b = subject.encode(body_charset)
            from_b = f'"{name}" <{addr}>'.encode(body_charset)
        else:
            encoding = "B" if style < 0.55 else "Q"
            subject_b = _encoded_words(subject, header_charset, encoding).encode()
            from_b = _header_address(name, addr, header_charset, encoding).encode()
        paragraphs = _paragraphs(rng, spec["sentences"], rng.randrange(1, 5))
        text = "\r\n\r\n".join([*paragraphs, name])
        head = (
            f"Return-Path: <{addr}>\r\n"
            f"Received: from mail.{domain} (mail.{domain} [203.0.113.{rng.randrange(1, 255)}])"
            f"\r\n\tby mx.{OUR_DOMAIN}; {format_datetime(date)}\r\n"
        ).encode()
        head += b"From: " + from_b + b"\r\nTo: "
        to_name = rng.choice(spec["names"])
        head += (
            f"{_encoded_words(to_name, header_charset, 'Q')} <obchod@{OUR_DOMAIN}>\r\n".encode()
            if rng.random() < 0.5
            else f"obchod@{OUR_DOMAIN}\r\n".encode()
        )
        head += b"Subject: " + subject_b + b"\r\n"
        head += (
            f"Date: {format_datetime(date)}\r\nMessage-ID: {message_id}\r\n"
            f"Content-Language: {lang}\r\nMIME-Version: 1.0\r\n"
        ).encode()
        transfer = rng.choice(("8bit", "quoted-printable", "base64"))
        if rng.random() < 0.6:
            yield head + _text_part(text, body_charset, transfer, "plain") + b"\r\n"
        else:
            # multipart/alternative whose HTML is in another charset than its text.
            html = "".join(f"<p>{_html_escape(p)}</p>" for p in paragraphs)
            html = f"<html><body>{html}<p><i>{_html_escape(name)}</i></p></body></html>"
            html_charset = rng.choice(spec["charsets"])
            boundary = f"=_ml{seed}_{index}"
            yield (
                head
                + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
                + f"--{boundary}\r\n".encode()
                + _text_part(text, body_charset, transfer, "plain")
                + f"\r\n--{boundary}\r\n".encode()
                + _text_part(html, html_charset, rng.choice(("8bit", "quoted-printable")), "html")
                + f"\r\n--{boundary}--\r\n".encode()
            )


def _text_part(text, charset, transfer, subtype):
    """Content headers and the body of a text part, ``text`` encoded in ``charset``."""
    data = text.encode(charset)
    if transfer == "quoted-printable":
        data = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif transfer == "base64":
        data = _b64_lines(data)
    return (
        f"Content-Type: text/{subtype}; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {transfer}\r\n\r\n"
    ).encode() + data


def _quote(text):
    return "\r\n".join(
        f">{line}" if line.startswith(">") else f"> {line}" for line in text.split("\r\n")
    )


def _corpus_threads(rng, count, seed):
    people = _senders(rng, count)
    # The other side of each thread: a colleague at the mailbox's own domain.
    colleagues = [
        (name, f"{_ascii_local(name)}@{OUR_DOMAIN}", "Crm Mail Sync", OUR_DOMAIN)
        for name in (
            f"{first} {last}" for first, last in zip(FIRST_NAMES[:6], LAST_NAMES[:6], strict=True)
        )
    ]
    open_threads = []
    for index in range(count):
        if not open_threads or (len(open_threads) < 40 and rng.random() < 0.3):
            customer = people[rng.randrange(len(people))]
            open_threads.append(
                {
                    "subject": rng.choice(SUBJECTS).format(n=rng.randrange(1000, 9999)),
                    "people": [customer, rng.choice(colleagues)],
                    "length": rng.randrange(2, 14),
                    "ids": [],
                    "text": None,
                    "html": None,
                    "last": None,
                }
            )
        thread = rng.choice(open_threads)
        position = len(thread["ids"])
        sender = thread["people"][position % 2]
        recipient = thread["people"][(position + 1) % 2]
        date = _date(index, rng)
        subject = thread["subject"]
        if position and not subject.startswith("Re: "):
            subject = "Re: " + subject
        extra = []
        if position:
            extra = [
                f"In-Reply-To: {thread['ids'][-1]}",
                "References: " + "\r\n ".join(thread["ids"][-20:]),
            ]
        lines, message_id = _envelope(
            rng,
            "threads",
            seed,
            index,
            sender,
            date,
            _encode_header(subject),
            to=formataddr(recipient[:2]),
            extra=extra,
        )
        new = "\r\n\r\n".join(
            _paragraphs(rng, SENTENCES, rng.randrange(1, 4)) + [sender[0].split()[0]]
        )
        text, html = new, "".join(f"<p>{_html_escape(p)}</p>" for p in new.split("\r\n\r\n"))
        if thread["text"]:
            last_name, last_date = thread["last"]
            intro = f"On {format_datetime(last_date)}, {last_name} wrote:"
            text = f"{new}\r\n\r\n{intro}\r\n{_quote(thread['text'])}"
            html = (
                f"{html}<div>{_html_escape(intro)}</div>"
                f'<blockquote type="cite" style="margin-left:8px;border-left:2px solid #ccc">'
                f"{thread['html']}</blockquote>"
            )
        thread.update(text=text, html=html, last=(sender[0], date))
        thread["ids"].append(message_id)
        if len(thread["ids"]) >= thread["length"]:
            open_threads.remove(thread)
        if rng.random() < 0.5:
            boundary = f"=_th{seed}_{index}"
            lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
            body = (
                f"--{boundary}\r\n".encode()
                + _text_part(text, "utf-8", "quoted-printable", "plain")
                + f"\r\n--{boundary}\r\n".encode()
                + _text_part(f"<html><body>{html}</body></html>", "utf-8", "8bit", "html")
                + f"\r\n--{boundary}--\r\n".encode()
            )
            yield ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        else:
            yield (
                ("\r\n".join(lines) + "\r\n").encode()
                + _text_part(text, "utf-8", "8bit", "plain")
                + b"\r\n"
            )


def cpython_email_messages():
    """CPython's own email test messages (``test/test_email/data/msg_*.txt``), as
    (name, bytes), sorted by name; raise RuntimeError when this Python lacks them."""
    directory = None
    spec = importlib.util.find_spec("test")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    locations.append(os.path.join(sysconfig.get_paths()["stdlib"], "test"))
    for location in locations:
        candidate = os.path.join(location, "test_email", "data")
        if glob.glob(os.path.join(candidate, "msg_*.txt")):
            directory = candidate
            break
    if not directory:
        raise RuntimeError(
            "CPython's email test messages (test/test_email/data/msg_*.txt) are not "
            f"installed with this Python ({sys.executable}); on Debian and Ubuntu install "
            f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite, or use "
            "a Python built from source"
        )
    messages = []
    for path in sorted(glob.glob(os.path.join(directory, "msg_*.txt"))):
        with open(path, "rb") as handle:
            messages.append((os.path.basename(path), handle.read()))
    return messages


def _with_message_id(raw, message_id):
    """``raw`` with its Message-ID header (if any) replaced by ``message_id``, first;
    an mbox "From " line, which is no part of the message, is dropped."""
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    lines = raw.split(newline)
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    kept, in_message_id = [], False
    for number, line in enumerate(lines):
        if not line.strip():
            kept += lines[number:]
            break
        if in_message_id and line[:1] in (b" ", b"\t"):
            continue
        in_message_id = line.lower().startswith(b"message-id:")
        if not in_message_id:
            kept.append(line)
    return newline.join([b"Message-ID: " + message_id.encode(), *kept])


def _corpus_cpython(rng, count, seed):
    messages = cpython_email_messages()
    for index in range(count):
        name, raw = messages[index % len(messages)]
        stem = name.removesuffix(".txt").replace("_", "-")
        yield _with_message_id(
            raw, f"<cpython.{seed}.{index}.{stem}.{rng.randrange(1 << 32):08x}@corpus.example>"
        )


# ---------------------------------------------------------------------------
# The demo: scripts/demo_mailserver.py seeds these mailboxes, crm_mail_sync/demo/
# holds the contacts and opportunities they speak of, tests/test_demo.py checks
# that both agree.
# ---------------------------------------------------------------------------

# The people of the demo's contacts (demo/res_partner_demo.xml): about a third of
# the demo mail comes from them, so their chatter, their company's and their open
# opportunities' hold history after the first sync. The other senders are strangers.
DEMO_CONTACTS = (
    ("Hannah Fischer", "hannah.fischer@brightline-logistics.example"),
    ("Tomas Ortega", "tomas.ortega@brightline-logistics.example"),
    ("Priya Raman", "priya.raman@brightline-logistics.example"),
    ("Lars Eriksen", "lars.eriksen@nordhavn-foods.example"),
    ("Ingrid Holm", "ingrid.holm@nordhavn-foods.example"),
    ("Camille Moreau", "camille.moreau@atelier-moreau.example"),
    ("Julien Garnier", "julien.garnier@atelier-moreau.example"),
    ("Olivia Grant", "olivia.grant@kestrel-engineering.example"),
    ("Samuel Osei", "samuel.osei@kestrel-engineering.example"),
    ("Mei Lin", "mei.lin@kestrel-engineering.example"),
    ("Petra Horáková", "petra.horakova@vltava-print.example"),
    ("Jiří Beneš", "jiri.benes@vltava-print.example"),
    ("Daniel Weber", "daniel.weber@weber-consulting.example"),
)
DEMO_SUPPORT = "Support <support@crm-mail-sync.test>"
DEMO_SALES = "Sales <sales@crm-mail-sync.test>"


def _demo_contact(address):
    return next(person for person in DEMO_CONTACTS if person[1] == address)


def _received(raw):
    """The moment a corpus message was received: its Date header."""
    return parsedate_to_datetime(BytesHeaderParser().parsebytes(raw)["Date"])


def _recent(sender, to, subject, body, date, message_id, extra=()):
    message = simple_message(
        message_id=message_id,
        subject=subject,
        sender=formataddr(sender),
        to=to,
        body=body,
        date=date,
        extra_headers=extra,
    )
    return message, date


def demo_mailboxes(now=None):
    """The demo mail server's content: ``[(login, folder, seen, [(raw, received)])]``.

    The corpus mail is from early 2024 and was received then: archive mail for a
    mailbox that goes live now. A few messages were received days before ``now``:
    live mail for a mailbox whose live window is a week (the demo's support@ and
    sales@): at support@ an unanswered customer email four days old (overdue for the
    reply alert), one answered from the Sent folder, one from a stranger minutes
    ago; at sales@ three requests for quotes, two of them from strangers.
    """
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)

    def ago(**delta):
        return now - timedelta(**delta)

    def corpus_mail(messages):
        return [(raw, _received(raw)) for raw in messages]

    ingrid = _demo_contact("ingrid.holm@nordhavn-foods.example")
    samuel = _demo_contact("samuel.osei@kestrel-engineering.example")
    priya = _demo_contact("priya.raman@brightline-logistics.example")
    answered_id = "<demo-portal-login@kestrel-engineering.example>"
    support_recent = [
        _recent(
            ingrid,
            DEMO_SUPPORT,
            "Pallet labels missing on today's delivery",
            "Hello,\r\n\r\nthe 12 pallets delivered this morning have no labels, so our "
            "warehouse cannot book them in. Could you send the labels again today?\r\n\r\n"
            "Ingrid Holm\r\nNordhavn Foods",
            ago(days=4),
            "<demo-pallet-labels@nordhavn-foods.example>",
        ),
        _recent(
            samuel,
            DEMO_SUPPORT,
            "Cannot open the maintenance report",
            "Hi,\r\n\r\nthe link to last month's maintenance report gives an error. "
            "Can you check?\r\n\r\nSamuel",
            ago(days=5),
            answered_id,
        ),
        _recent(
            ("Nadia Haddad", "nadia.haddad@orchid-dental.example"),
            DEMO_SUPPORT,
            "Where is my order 4471?",
            "Good morning,\r\n\r\nI ordered two scanners last week and have heard nothing "
            "since. When will they ship?\r\n\r\nNadia Haddad",
            ago(minutes=20),
            "<demo-order-4471@orchid-dental.example>",
        ),
    ]
    support_sent = [
        _recent(
            ("Support", "support@crm-mail-sync.test"),
            formataddr(samuel),
            "Re: Cannot open the maintenance report",
            "Hello Samuel,\r\n\r\nthe link is fixed: you can open the report again.\r\n\r\n"
            "> the link to last month's maintenance report gives an error.\r\n\r\nSupport",
            ago(days=5) + timedelta(hours=2),
            "<demo-portal-login-answer@crm-mail-sync.test>",
            extra=(f"In-Reply-To: {answered_id}", f"References: {answered_id}"),
        )
    ]
    sales_recent = [
        _recent(
            ("Rosa Delgado", "rosa.delgado@solara-retail.example"),
            DEMO_SALES,
            "Quote for 200 handheld scanners",
            "Hello,\r\n\r\nwe are opening six stores next spring and need 200 handheld "
            "scanners with a three-year warranty. Could you send us a quote?\r\n\r\n"
            "Rosa Delgado\r\nSolara Retail",
            ago(days=2),
            "<demo-quote-scanners@solara-retail.example>",
        ),
        _recent(
            ("Felix Braun", "felix.braun@braun-moebel.example"),
            DEMO_SALES,
            "Volume pricing for label printers",
            "Hi,\r\n\r\nwhat would 15 label printers cost, with installation?\r\n\r\n"
            "Felix Braun\r\nBraun Möbel",
            ago(days=1),
            "<demo-label-printers@braun-moebel.example>",
        ),
        _recent(
            priya,
            DEMO_SALES,
            "Scanners for our Lyon depot",
            "Hello,\r\n\r\nour Lyon depot opens in March: we would need 25 more scanners "
            "like the Paris ones. Can you make us an offer?\r\n\r\nPriya Raman\r\n"
            "Brightline Logistics",
            ago(hours=3),
            "<demo-lyon-depot@brightline-logistics.example>",
        ),
    ]
    known = {"known_senders": DEMO_CONTACTS}
    return [
        ("support", "INBOX", False, corpus_mail(many_messages(400, 1, 120, **known))),
        ("support", "INBOX", False, support_recent),
        ("support", "Sent", False, corpus_mail(many_messages(60, seed=2, senders=40))),
        ("support", "Sent", True, support_sent),
        ("sales", "INBOX", False, corpus_mail(many_messages(80, 3, 50, **known))),
        ("sales", "INBOX", False, sales_recent),
        ("marc", "INBOX", True, corpus_mail(many_messages(120, 4, 60, **known))),
        ("marc", "Sent", True, corpus_mail(many_messages(20, seed=5, senders=10))),
    ]
