# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64

from odoo.tests import tagged
from odoo.tools import mute_logger

from . import mail_corpus
from .common import CrmMailSyncCase

GATEWAY_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_gateway"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMalformedMail(CrmMailSyncCase):
    def _sync_corpus(self, corpus, **account_vals):
        login, password = self.new_mailbox("bad")
        uids = {}
        for name, raw in corpus.items():
            uids[name] = self.dovecot.append(login, "INBOX", raw)
        account = self.create_account(login, password, **account_vals)
        self.connect(account)
        with mute_logger(GATEWAY_LOGGER):
            stats = self.sync(account)
        return account, uids, stats

    def test_corpus_is_stored_or_quarantined_nothing_lost(self):
        corpus = mail_corpus.malformed_corpus()
        account, uids, stats = self._sync_corpus(corpus, max_attachment_size=1)
        self.assertFalse(stats["failed"])
        self.assertEqual(account.state, "connected")
        locations = self.env["crm.mail.email.location"].search([("account_id", "=", account.id)])
        quarantined = self.env["crm.mail.quarantine"].search([("account_id", "=", account.id)])
        # Every message ends up somewhere: as an email, or raw in the quarantine.
        self.assertEqual(
            sorted(locations.mapped("uid") + quarantined.mapped("uid")),
            sorted(uids.values()),
        )
        by_uid = {location.uid: location.email_id for location in locations}

        subject = by_uid[uids["rfc2047_subject_and_from"]].subject
        self.assertNotIn("=?", subject)

        huge = by_uid[uids["huge_attachment"]]
        self.assertIn("cap", huge.parse_warnings)
        self.assertFalse(any(att.file_size > 1024 * 1024 for att in huge.attachment_ids))
        self.assertIn("not stored", (huge.body_text or "").lower() + huge.parse_warnings.lower())

        hostile = by_uid[uids["html_only_with_script"]]
        self.assertNotIn("<script", hostile.body_html)
        self.assertNotIn("onerror", hostile.body_html)
        self.assertNotIn("javascript:", hostile.body_html)

        nested = by_uid[uids["nested_rfc822"]]
        self.assertTrue(any(att.name.endswith(".eml") for att in nested.attachment_ids))

        latin = by_uid[uids["wrong_charset_latin1_declared_utf8"]]
        self.assertTrue(latin.body_text)
        self.assertTrue(latin.parse_warnings)

        undated = by_uid[uids["missing_date_and_from"]]
        self.assertTrue(undated.date)
        self.assertFalse(undated.from_address)

        # The account shows what happened when something was set aside.
        if quarantined:
            self.assertIn("quarantine", account.last_error)
            for entry in quarantined:
                self.assertEqual(entry.raw_size, len(base64.b64decode(entry.raw_message)))
                self.assertTrue(entry.error)

    def test_unusable_message_is_quarantined_once_and_retried(self):
        good = self.message(subject="Fine")
        account, uids, stats = self._sync_corpus({"empty": b"\r\n", "good": good})
        entry = self.env["crm.mail.quarantine"].search([("account_id", "=", account.id)])
        self.assertEqual(len(entry), 1)
        self.assertEqual(entry.uid, uids["empty"])
        self.assertEqual(entry.state, "pending")
        self.assertEqual(self.emails_of(account).mapped("subject"), ["Fine"])
        self.assertIn("quarantine", account.last_error)
        self.assertEqual(account.quarantine_count, 1)
        # Not fetched again on the next run.
        with mute_logger(GATEWAY_LOGGER):
            self.assertEqual(self.sync(account)["commands"], 2)
        self.assertEqual(
            self.env["crm.mail.quarantine"].search_count([("account_id", "=", account.id)]), 1
        )
        # Retrying an unusable message keeps it; a repaired one is imported.
        with mute_logger(GATEWAY_LOGGER):
            action = entry.action_retry()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertEqual(entry.retry_count, 1)
        entry.sudo().write({"raw_message": base64.b64encode(self.message(subject="Repaired"))})
        action = entry.action_retry()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(entry.state, "imported")
        self.assertEqual(entry.email_id.subject, "Repaired")
        self.assertIn(account, entry.email_id.account_ids)

    def test_nul_characters_are_stored_safely(self):
        raw = self.message(subject="Nul", body="before\x00after")
        account, uids, stats = self._sync_corpus({"nul": raw})
        email = self.emails_of(account)
        self.assertEqual(len(email), 1)
        self.assertNotIn("\x00", email.body_text)
        self.assertIn("before", email.body_text)
