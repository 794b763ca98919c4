# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Hostile input, continued: resource bombs kept within bounds, forged Message-IDs,
and secrets that never leak. Messages go through the real import pipeline (a real
Dovecot folder and PostgreSQL, no mocks); the helpers are test_hostile_input's."""

import base64
import io
import logging
import time
import zipfile

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.crm_mail_sync.lib.mime import (
    MAX_BODY_SIZE,
    MAX_MIME_DEPTH,
    MB,
    parse_message,
)

from . import mail_corpus
from .test_hostile_input import (
    ACCOUNT_LOGGER,
    HostileInputCase,
    LogCapture,
)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestHostileBounds(HostileInputCase):
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
        if container == "multipart/mixed":
            return mail_corpus.nested_multipart(raw, depth, sender="fwd{level}@example.com")
        for level in range(1, depth + 1):
            raw = (
                f"From: fwd{level}@example.com\r\nTo: support@crm-mail-sync.test\r\n"
                f"Subject: level {level}\r\nMIME-Version: 1.0\r\n"
                "Content-Type: message/rfc822\r\n\r\n"
            ).encode() + raw
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
            email = stored[item.uid]
            self.assertTrue(email.subject.startswith("level "), email.subject)
            self.assertIn(f"more than {MAX_MIME_DEPTH} levels", email.parse_warnings)
        # A forwarded chain keeps the forwarded message, whole, as an .eml file.
        forwarded = stored[items[0].uid]
        self.assertEqual(forwarded.attachment_ids.mapped("name"), ["level 199.eml"])
        self.assertIn(b"the innermost body", forwarded.attachment_ids.raw)
        # Multipart nesting keeps the text of the levels it reads.
        self.assertIn("level 200 text", stored[items[1].uid].body_text)

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
        email = stored[items[0].uid]
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
        email = stored[items[0].uid]
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
        first, second = (stored[item.uid] for item in items)
        self.assertNotEqual(first, second)
        self.assertIn("Genuine", first.body_text)
        self.assertIn("Forged", second.body_text)
        self.assertEqual(len(first.location_ids), 1)
        self.assertEqual(len(second.location_ids), 1)
        # A later batch re-delivering the forgery is recognised as the forgery.
        items, _result = self.import_raw([b"Delivered-To: x@example.com\r\n" + forged])
        again, _quarantined = self.assert_nothing_lost(items)
        self.assertEqual(again[items[0].uid], second)

    def test_forged_message_id_exposes_nothing_to_the_forger(self):
        """A user whose mailbox holds a forgery of a group email sees only the forgery."""
        genuine = self.message(message_id="<secret-deal@example.com>", body="Price is 1M")
        items, _result = self.import_raw([genuine])
        victim = self.outcome(items)[0][items[0].uid]
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
        keyless = self.outcome(items)[0][items[0].uid]
        self.assertTrue(keyless.message_id.endswith("@crm-mail-sync.invalid>"))
        items, _result = self.import_raw([self.message(message_id=keyless.message_id)])
        impostor = self.outcome(items)[0][items[0].uid]
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
