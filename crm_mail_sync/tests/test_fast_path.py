# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The fast import path stores exactly what the slow one stores, on every corpus.

The fast path is what a sync run does: batches of the account's batch size through
the whole chain at once, plain-text bodies stored without Odoo's sanitizer, HTML
bodies sanitised once. The slow path imports the same messages one at a time, each
body through the body field's standard sanitizer. Both run on the same database
state (the first is rolled back); the emails, their attachments, links, chatter
entries, cases and who may see them must come out the same.
"""

from contextlib import suppress
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.tests import new_test_user, tagged

from odoo.addons.crm_mail_sync.lib.batch import BatchItem
from odoo.addons.crm_mail_sync.lib.mime import parse_message

from . import mail_corpus
from .common import CrmMailUnitCase

EMAIL_FIELDS = (
    "fingerprint",
    "subject",
    "email_from",
    "from_address",
    "email_to",
    "email_cc",
    "reply_to",
    "recipient_addresses",
    "date",
    "in_reply_to",
    "references",
    "body_html",
    "body_text",
    "direction",
    "import_mode",
    "no_auto_reply_reason",
    "is_auto_submitted",
    "size",
    "parse_warnings",
    "has_attachments",
    "is_private",
    "no_link",
    "no_notify",
    "is_marked_read",
    "snippet",
)
# Messages per corpus: enough for threads, repeated senders and several batches.
COUNTS = dict.fromkeys(mail_corpus.CORPUS_KINDS, 60) | {"newsletter": 12, "attachments": 8}


class _RolledBack(Exception):
    pass


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFastPath(CrmMailUnitCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.raws = [
            raw
            for kind in mail_corpus.CORPUS_KINDS
            for raw in mail_corpus.corpus(kind, COUNTS[kind], seed=21)
        ]
        cls.agents = cls.env["res.users"]
        for index in range(3):
            cls.agents |= new_test_user(
                cls.env,
                login=f"fast_agent{index}",
                email=f"fast.agent{index}@ourcompany.example",
                groups="base.group_user,crm_mail_sync.group_crm_mail_team",
            )
        cls.team = cls.env["crm.team"].create(
            {"name": "Fast path support", "member_ids": [(6, 0, cls.agents.ids)]}
        )
        cls.everything = new_test_user(
            cls.env,
            login="fast_all",
            email="fast.all@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )
        cls._create_customers()

    @classmethod
    def _create_customers(cls):
        """Contacts (some in a company) and open leads for part of the corpora's
        senders, so that mail gets linked and shows in chatters."""
        senders = []
        for raw in cls.raws:
            parsed = parse_message(raw)
            if parsed.from_address and parsed.from_address not in senders:
                senders.append(parsed.from_address)
        Partner = cls.env["res.partner"]
        companies = {}
        for index, address in enumerate(senders):
            if index % 3:
                continue
            domain = address.rpartition("@")[2]
            if domain not in companies:
                companies[domain] = Partner.create({"name": domain, "is_company": True})
            Partner.create({"name": address, "email": address, "parent_id": companies[domain].id})
            if index % 9 == 0:
                cls.env["crm.lead"].create(
                    {"name": f"Deal with {address}", "email_from": address, "type": "opportunity"}
                )
        # Linking and cases must both have had something to do.
        assert len(senders) > 60, len(senders)

    # ------------------------------------------------------------------
    # The two paths
    # ------------------------------------------------------------------

    def _items(self):
        # The server's arrival date, as a sync run has it: mail without a Date gets it.
        arrived = datetime(2024, 6, 1)
        return [
            BatchItem(raw=raw, uid=index + 1, internal_date=arrived + timedelta(minutes=index))
            for index, raw in enumerate(self.raws)
        ]

    def _fast(self, folder):
        """As a sync run imports: batches of the account's (default) batch size."""
        items = self._items()
        size = folder.account_id.batch_size
        for start in range(0, len(items), size):
            self.Gateway._import_batch(folder, items[start : start + size])

    def _slow(self, folder):
        """One message at a time, every body through the field's standard sanitizer."""

        def standard_body(gateway, parsed):
            # A plain string: the Html field sanitises it as for any other caller.
            return parsed.body_html.replace("\x00", "") if parsed.body_html else parsed.body_html

        with patch.object(type(self.Gateway), "_prepare_body_html", standard_body):
            for item in self._items():
                self.Gateway._import_batch(folder, [item])

    def _stored_by(self, account, importer):
        """What ``importer`` stores for ``account``'s INBOX; rolled back afterwards."""
        result = None
        with suppress(_RolledBack), self.env.cr.savepoint():
            importer(account.folder_ids)
            self.env.flush_all()
            result = self._snapshot(account)
            raise _RolledBack
        self.env.invalidate_all()
        return result

    # ------------------------------------------------------------------
    # What is compared
    # ------------------------------------------------------------------

    def _snapshot(self, account):
        emails = self.Email.sudo().search([("account_ids", "in", account.ids)], order="id")
        cases = self.env["crm.mail.case"].sudo().search([("account_id", "=", account.id)])
        # Cases are new records (their ids and sequence numbers differ between the two
        # runs): each is named by the Message-ID of its first email.
        case_key = {case.id: min(case.email_ids, key=lambda e: e.id).message_id for case in cases}

        def ref(model, res_id):
            if model == "crm.mail.case":
                return ("case", case_key.get(res_id))
            return (model, res_id)

        stored = {}
        for email in emails:
            values = {name: email[name] for name in EMAIL_FIELDS}
            values["teams"] = sorted(email.team_ids.mapped("name"))
            values["attachments"] = sorted(
                (att.name, att.mimetype, att.checksum, att.file_size)
                for att in email.attachment_ids
            )
            values["links"] = sorted(
                (*ref(link.res_model, link.res_id), link.reason) for link in email.link_ids
            )
            entries = self.env["mail.message"].sudo().search([("crm_mail_email_id", "=", email.id)])
            values["chatter"] = sorted(
                (*ref(entry.model, entry.res_id), sorted(entry.partner_ids.ids))
                for entry in entries
            )
            values["case"] = case_key.get(email.case_id.id)
            stored[email.message_id] = values
        case_values = {
            case_key[case.id]: (
                case.subject,
                case.partner_id.id,
                case.user_id.login,
                case.team_id.id,
                case.stage_id.id,
                sorted(case.email_ids.mapped("message_id")),
            )
            for case in cases
        }
        visible = {
            user.login: sorted(
                self.Email.with_user(user)
                .search([("account_ids", "in", account.ids)])
                .mapped("message_id")
            )
            for user in self.agents | self.everything | self.mail_user | self.mail_admin
        }
        return {"emails": stored, "cases": case_values, "visible": visible}

    def assertSameOutcome(self, fast, slow):
        self.assertEqual(sorted(fast["emails"]), sorted(slow["emails"]))
        for message_id, values in fast["emails"].items():
            for name, value in values.items():
                # Not one assertEqual on the whole: a diff of megabytes of bodies.
                self.assertEqual(value, slow["emails"][message_id][name], (message_id, name))
        for key in sorted(set(fast["cases"]) | set(slow["cases"])):
            self.assertEqual(fast["cases"].get(key), slow["cases"].get(key), key)
        self.assertEqual(fast["visible"], slow["visible"])

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------

    def test_group_mailbox_with_cases(self):
        """Live mail of a team's mailbox: cases opened round robin, links, chatter."""
        account = self.local_account(
            "fastgroup",
            create_cases=True,
            case_assignment="round_robin",
            team_ids=[(6, 0, self.team.ids)],
        )
        # Every message of the corpora (2024) arrived after the account went live.
        account.live_since = "2023-01-01 00:00:00"
        fast = self._stored_by(account, self._fast)
        slow = self._stored_by(account, self._slow)
        self.assertGreater(len(fast["emails"]), 250)
        self.assertTrue(fast["cases"], "no case was opened")
        linked = [v for v in fast["emails"].values() if v["links"]]
        self.assertGreater(len(linked), 30)
        self.assertTrue(any(v["chatter"] for v in fast["emails"].values()))
        self.assertTrue(any(v["attachments"] for v in fast["emails"].values()))
        self.assertSameOutcome(fast, slow)

    def test_personal_mailbox(self):
        """A user's personal mailbox: archive mail, private to its owner's level."""
        account = self.local_account(
            "fastpersonal",
            account_type="personal",
            user_id=self.mail_user.id,
            email=self.mail_user.email,
        )
        fast = self._stored_by(account, self._fast)
        slow = self._stored_by(account, self._slow)
        self.assertTrue(fast["visible"][self.mail_user.login])
        self.assertSameOutcome(fast, slow)
