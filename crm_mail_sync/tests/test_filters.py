# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.crm_mail_sync.lib.batch import BatchItem
from odoo.addons.crm_mail_sync.lib.filters import domain_excluded
from odoo.addons.crm_mail_sync.lib.mime import parse_message

from .common import CrmMailSyncCase, CrmMailUnitCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFilterMatching(CrmMailUnitCase):
    """The filters' evaluation on a batch, without a mail server."""

    def test_order_first_skip_wins_and_wildcards(self):
        account = self.local_account("matching")
        item = BatchItem(
            raw=b"",
            parsed=parse_message(
                self.message(
                    sender="news@mail.shop.example",
                    to="me@x.example",
                    subject="ÉTÉ sale",
                    body="Deals",
                )
            ),
        )
        Filter = self.env["crm.mail.filter"]
        folder = self.env["crm.mail.inbox.folder"].create({"name": "Shops"})
        common = {"scope": "account", "account_id": account.id}
        rules = Filter.create(
            [
                dict(
                    common,
                    sequence=1,
                    name="move",
                    action="move",
                    from_pattern="*.shop.example",
                    folder_id=folder.id,
                ),
                dict(common, sequence=2, name="skip", action="skip", subject_contains="été"),
                dict(common, sequence=3, name="read", action="mark_read", body_contains="deals"),
            ]
        )
        Filter._filter_items(account, [item])
        outcome = item.filter
        self.assertTrue(outcome.skip)
        self.assertEqual(outcome.matched, tuple(rules[:2].ids))
        self.assertFalse(outcome.mark_read)
        rules.unlink()
        other = BatchItem(raw=b"", parsed=item.parsed)
        Filter.create(dict(common, name="bare", action="skip", from_pattern="shop.example"))
        Filter._filter_items(account, [other])
        self.assertFalse(other.filter.skip)
        self.assertTrue(domain_excluded(["a@sub.family.example"], ["family.example"]))
        self.assertFalse(domain_excluded(["a@notfamily.example"], ["family.example"]))


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFilters(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Filter = cls.env["crm.mail.filter"]
        cls.folder = cls.env["crm.mail.inbox.folder"].create({"name": "Newsletters"})

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("filters")
        self.account = self.create_account(self.login, password)
        self.connect(self.account)

    def deliver(self, raws):
        for raw in raws:
            self.dovecot.append(self.login, "INBOX", raw)
        return self.sync(self.account)

    def test_global_skip_counts_as_seen(self):
        self.Filter.create(
            {
                "name": "no spam",
                "scope": "global",
                "action": "skip",
                "from_pattern": "*@spam.example",
            }
        )
        self.deliver(
            [
                self.message(subject="Junk", sender="x@spam.example"),
                self.message(subject="Real", sender="y@customer.example"),
            ]
        )
        self.assertEqual(self.emails_of(self.account).mapped("subject"), ["Real"])
        inbox = self.account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 2)
        # Not fetched, not evaluated again: nothing new means one STATUS per folder.
        self.assertEqual(self.sync(self.account)["commands"], 2)

    def test_user_filter_cannot_unskip_a_global_skip(self):
        self.Filter.create(
            {"name": "skip", "scope": "global", "action": "skip", "subject_contains": "promo"}
        )
        self.Filter.create(
            {
                "name": "keep",
                "scope": "account",
                "account_id": self.account.id,
                "action": "move",
                "folder_id": self.folder.id,
                "subject_contains": "promo",
                "sequence": 0,
            }
        )
        self.deliver([self.message(subject="Big PROMO")])
        self.assertFalse(self.emails_of(self.account))

    def test_account_move_mark_read_no_link_no_notify(self):
        partner = self.env["res.partner"].create({"name": "Shop", "email": "deals@shop.example"})
        self.Filter.create(
            {
                "name": "file",
                "scope": "account",
                "account_id": self.account.id,
                "action": "move",
                "folder_id": self.folder.id,
                "from_pattern": "*.example",
            }
        )
        self.Filter.create(
            {
                "name": "read",
                "scope": "account",
                "account_id": self.account.id,
                "action": "mark_read",
                "subject_contains": "weekly",
            }
        )
        self.Filter.create(
            {
                "name": "nolink",
                "scope": "account",
                "account_id": self.account.id,
                "action": "no_link",
                "body_contains": "unsubscribe",
            }
        )
        self.deliver(
            [
                self.message(
                    subject="Weekly deals", sender="deals@shop.example", body="Click to unsubscribe"
                )
            ]
        )
        email = self.emails_of(self.account)
        self.assertEqual(email.inbox_folder_id, self.folder)
        self.assertTrue(email.is_marked_read)
        self.assertTrue(email.no_link)
        self.assertFalse(email.link_ids)
        self.assertFalse(partner.message_ids.crm_mail_email_id)

    def test_do_not_notify(self):
        follower = self.env["res.users"].create(
            {
                "name": "Follower",
                "login": "filter_follower",
                "email": "ff@ourcompany.example",
                "notification_type": "inbox",
                "groups_id": [(6, 0, [self.env.ref("crm_mail_sync.group_crm_mail_all").id])],
            }
        )
        partner = self.env["res.partner"].create({"name": "Loud", "email": "loud@shop.example"})
        partner.message_subscribe(partner_ids=follower.partner_id.ids)
        self.account.live_since = self.days_ago(1)
        self.Filter.create(
            {
                "name": "quiet",
                "scope": "account",
                "account_id": self.account.id,
                "action": "no_notify",
                "subject_contains": "quiet",
            }
        )
        self.deliver(
            [
                self.message(subject="quiet please", sender="loud@shop.example"),
                self.message(subject="loud news", sender="loud@shop.example"),
            ]
        )
        notified = {
            email.subject: follower.partner_id
            in email.link_ids.mail_message_id.notification_ids.res_partner_id
            for email in self.emails_of(self.account)
        }
        self.assertEqual(notified, {"quiet please": False, "loud news": True})

    def test_body_filter_on_alternative_and_legacy_charset(self):
        self.Filter.create(
            {"name": "café", "scope": "global", "action": "skip", "body_contains": "CAFÉ"}
        )
        latin = (
            b"From: a@b.example\r\nTo: c@d.example\r\nSubject: latin\r\n"
            b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nUn caf\xe9 noir\r\n"
        )
        alternative = (
            b"From: a@b.example\r\nTo: c@d.example\r\nSubject: alt\r\n"
            b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n--A\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nun caf\xc3\xa9\r\n--A\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>un caf\xc3\xa9</p>\r\n--A--\r\n"
        )
        self.deliver([latin, alternative, self.message(subject="tea", body="thé")])
        self.assertEqual(self.emails_of(self.account).mapped("subject"), ["tea"])

    def test_users_see_only_their_filters(self):
        mine = self.Filter.with_user(self.mail_user).create(
            {"name": "mine", "scope": "user", "action": "skip", "subject_contains": "x"}
        )
        global_filter = self.Filter.create(
            {"name": "global", "scope": "global", "action": "skip", "subject_contains": "y"}
        )
        other = self.env["res.users"].create(
            {
                "name": "Other",
                "login": "filter_other",
                "email": "fo@example.com",
                "groups_id": [(6, 0, [self.env.ref("crm_mail_sync.group_crm_mail_user").id])],
            }
        )
        as_other = self.Filter.with_user(other)
        self.assertFalse(as_other.search([("id", "in", (mine | global_filter).ids)]))
        with self.assertRaises(AccessError):
            mine.with_user(other).write({"name": "hijack"})
        with self.assertRaises(AccessError):
            as_other.create(
                {"name": "g", "scope": "global", "action": "skip", "subject_contains": "z"}
            )

    def test_user_filter_applies_to_personal_accounts(self):
        login, password = self.new_mailbox("personal-filters")
        personal = self.create_personal_account(self.mail_user, login, password).sudo()
        self.connect(personal)
        self.Filter.with_user(self.mail_user).create(
            {"name": "mine", "scope": "user", "action": "skip", "subject_contains": "private"}
        )
        self.dovecot.append(login, "INBOX", self.message(subject="private stuff"))
        self.dovecot.append(login, "INBOX", self.message(subject="work"))
        self.sync(personal)
        self.assertEqual(self.emails_of(personal).mapped("subject"), ["work"])
        # Not applied to other accounts.
        self.deliver([self.message(subject="private too")])
        self.assertEqual(self.emails_of(self.account).mapped("subject"), ["private too"])

    def test_test_filter_button(self):
        self.deliver([self.message(subject="Invoice 1"), self.message(subject="Hello")])
        rule = self.Filter.create(
            {
                "name": "invoices",
                "scope": "account",
                "action": "no_link",
                "account_id": self.account.id,
                "subject_contains": "invoice",
            }
        )
        # Before saving: a form's draft record already counts its matches.
        draft = self.Filter.new(
            {
                "name": "draft",
                "scope": "account",
                "action": "skip",
                "account_id": self.account.id,
                "subject_contains": "hello",
            }
        )
        self.assertEqual(draft.preview_count, 1)
        action = rule.action_test_filter()
        self.assertEqual(self.Email.search(action["domain"]).mapped("subject"), ["Invoice 1"])
        self.assertEqual(rule.match_count, 1)

    def test_excluded_domains_neither_link_nor_share(self):
        self.env["res.partner"].create({"name": "Mum", "email": "mum@family.example"})
        self.account.excluded_domains = "family.example"
        self.env["res.config.settings"].create(
            {"crm_mail_sync_excluded_domains": "ourcompany.example"}
        ).execute()
        self.deliver(
            [
                self.message(subject="Sunday lunch", sender="mum@family.example"),
                self.message(
                    subject="Internal", sender="boss@ourcompany.example", to="mum@family.example"
                ),
            ]
        )
        for email in self.emails_of(self.account):
            self.assertTrue(email.no_link, email.subject)
            self.assertTrue(email.is_private, email.subject)
            self.assertFalse(email.link_ids, email.subject)
        self.deliver([self.message(subject="Customer", sender="mum@customer.example")])
        self.assertFalse(self.Email.search([("subject", "=", "Customer")]).no_link)
