# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..models import crm_mail_link_request
from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestLinking(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Partner = cls.env["res.partner"]
        cls.company = cls.Partner.create({"name": "Customer Corp", "is_company": True})
        cls.contact = cls.Partner.create(
            {"name": "Paula Client", "email": "Paula@Customer.example", "parent_id": cls.company.id}
        )
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Big deal", "email_from": "paula@customer.example", "type": "opportunity"}
        )
        won_stage = cls.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        cls.won_lead = cls.env["crm.lead"].create(
            {
                "name": "Old deal",
                "email_from": "paula@customer.example",
                "type": "opportunity",
                "stage_id": won_stage.id,
            }
        )

    def _sync_messages(self, raws, folder="INBOX", live=False, **account_vals):
        login, password = self.new_mailbox("link")
        account = self.create_account(login, password, **account_vals)
        self.connect(account)
        if live:
            account.live_since = self.days_ago(1)
        for raw in raws:
            # Mail the server had before the account went live is archive mail.
            self.dovecot.append(
                login, folder, raw, internal_date=None if live else self.days_ago(3)
            )
        self.sync(account)
        return account, self.emails_of(account)

    def targets(self, email):
        return {(link.res_model, link.res_id): link.reason for link in email.link_ids}

    def test_address_links_contact_company_and_open_lead(self):
        raw = self.message(
            subject="Need a quote", sender="Paula <paula@customer.example>", to="sales@x.example"
        )
        _account, email = self._sync_messages([raw])
        self.assertEqual(
            self.targets(email),
            {
                ("res.partner", self.contact.id): "address",
                ("res.partner", self.company.id): "address",
                ("crm.lead", self.lead.id): "address",
            },
        )
        chatter = self.chatter_entries(self.contact, email)
        self.assertEqual(len(chatter), 1)
        self.assertEqual(chatter.message_type, "email")
        # The entry shows the email to a reader, from the archive.
        shown = chatter.read(["subject", "author_id", "body"])[0]
        self.assertEqual(shown["subject"], "Need a quote")
        self.assertEqual(shown["author_id"][0], self.contact.id)
        self.assertIn("Hi", shown["body"])
        self.assertTrue(self.chatter_entries(self.lead, email))
        self.assertFalse(self.chatter_entries(self.won_lead, email))
        self.assertEqual(self.contact.crm_mail_email_count, 1)
        self.assertEqual(self.company.crm_mail_email_count, 1)
        self.assertEqual(self.lead.crm_mail_email_count, 1)
        action = self.company.action_view_crm_mail_emails()
        self.assertEqual(self.Email.search(action["domain"]), email)

    def test_attachments_are_shared_not_copied(self):
        raw = (
            b"From: paula@customer.example\r\nTo: sales@x.example\r\nSubject: With file\r\n"
            b"Message-ID: <att-share@customer.example>\r\n"
            b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
            b"Content-Type: text/plain\r\n\r\nsee file\r\n--B\r\n"
            b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="q.pdf"'
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n"
        )
        _account, email = self._sync_messages([raw])
        self.assertEqual(len(email.attachment_ids), 1)
        chatter = email.link_ids.mail_message_id
        self.assertEqual(len(chatter), 3)
        for message in chatter:
            # The entry holds no file; it shows the email's own to a reader.
            self.assertFalse(message.attachment_ids)
            shown = message.read(["attachment_ids"])[0]["attachment_ids"]
            self.assertEqual(shown, email.attachment_ids.ids)
        self.assertEqual(self.env["ir.attachment"].search_count([("name", "=", "q.pdf")]), 1)

    def test_same_address_on_two_contacts_links_both(self):
        twin = self.Partner.create({"name": "Paula (billing)", "email": "paula@customer.example"})
        _account, email = self._sync_messages([self.message(sender="paula@customer.example")])
        self.assertIn(("res.partner", twin.id), self.targets(email))
        self.assertIn(("res.partner", self.contact.id), self.targets(email))

    def test_own_address_alone_links_nothing(self):
        login, password = self.new_mailbox("own")
        own_address = f"{login}@crm-mail-sync.test"
        self.Partner.create({"name": "Our mailbox", "email": own_address})
        account = self.create_account(login, password)
        self.connect(account)
        self.dovecot.append(
            login, "INBOX", self.message(sender="stranger@nowhere.example", to=own_address)
        )
        self.dovecot.append(
            login, "INBOX", self.message(sender=own_address, to="who@nowhere.example")
        )
        self.sync(account)
        emails = self.emails_of(account)
        self.assertEqual(len(emails), 2)
        self.assertFalse(emails.link_ids)

    def test_internal_users_are_not_link_targets(self):
        colleague = new_test_user(self.env, login="colleague", email="colleague@ourcompany.example")
        _account, email = self._sync_messages(
            [self.message(sender="colleague@ourcompany.example", to="x@nowhere.example")]
        )
        self.assertNotIn(("res.partner", colleague.partner_id.id), self.targets(email))

    def test_outgoing_mail_links_recipients(self):
        raw = self.message(
            subject="Our offer", sender="sales@x.example", to="paula@customer.example"
        )
        _account, email = self._sync_messages([raw], folder="Sent")
        self.assertEqual(email.direction, "outgoing")
        self.assertIn(("res.partner", self.contact.id), self.targets(email))

    def test_thread_follows_the_parent_email_and_odoo_messages(self):
        lead = self.env["crm.lead"].create({"name": "Manual lead"})
        first = self.message(message_id="<first@stranger.example>", sender="x@stranger.example")
        _account, email = self._sync_messages([first])
        self.assertFalse(email.link_ids)
        wizard = self.env["crm.mail.link.wizard"].create(
            {"email_ids": [(6, 0, email.ids)], "target": f"crm.lead,{lead.id}"}
        )
        wizard.action_link()
        self.assertEqual(self.targets(email), {("crm.lead", lead.id): "manual"})

        reply = self.message(
            sender="x@stranger.example",
            subject="Re: Hello",
            extra_headers=["In-Reply-To: <first@stranger.example>"],
        )
        odoo_message = lead.message_post(body="Sent from Odoo", message_type="comment")
        answer = self.message(
            sender="y@stranger.example",
            subject="Re: Sent from Odoo",
            extra_headers=[f"References: {odoo_message.message_id}"],
        )
        _account, emails = self._sync_messages([reply, answer])
        for email in emails:
            self.assertEqual(self.targets(email), {("crm.lead", lead.id): "thread"})

    def test_followers_are_notified_once(self):
        follower = new_test_user(
            self.env,
            login="follower",
            email="follower@ourcompany.example",
            groups="crm_mail_sync.group_crm_mail_all",
            notification_type="inbox",
        )
        self.contact.message_subscribe(
            partner_ids=(follower.partner_id | self.mail_user.partner_id).ids
        )
        login, password = self.new_mailbox("personal")
        account = self.create_personal_account(self.mail_user, login, password).sudo()
        self.connect(account)
        account.live_since = self.days_ago(1)
        self.dovecot.append(
            login,
            "INBOX",
            self.message(
                subject="Live one", sender="paula@customer.example", to=self.mail_user.email
            ),
        )
        self.sync(account)
        email = self.emails_of(account)
        self.assertEqual(email.import_mode, "live")
        notifications = email.link_ids.mail_message_id.notification_ids
        notified = notifications.res_partner_id
        self.assertIn(follower.partner_id, notified)
        self.assertEqual(
            len(notifications.filtered(lambda n: n.res_partner_id == follower.partner_id)), 1
        )
        # The owner of the mailbox already has the email: no second notice.
        self.assertNotIn(self.mail_user.partner_id, notified)
        # Customers following the record are not mailed their own email back.
        self.assertNotIn(self.contact, notified)

    def test_archive_mail_notifies_nobody(self):
        follower = new_test_user(self.env, login="follower2", email="f2@ourcompany.example")
        self.contact.message_subscribe(partner_ids=follower.partner_id.ids)
        _account, email = self._sync_messages([self.message(sender="paula@customer.example")])
        self.assertEqual(email.import_mode, "archive")
        self.assertFalse(email.link_ids.mail_message_id.notification_ids)

    def test_unlink_removes_the_chatter_entry(self):
        _account, email = self._sync_messages(
            [self.message(subject="To unlink", sender="paula@customer.example")]
        )
        link = email.link_ids.filtered(
            lambda link: (link.res_model, link.res_id) == ("res.partner", self.contact.id)
        )
        message = link.mail_message_id
        self.assertTrue(message.exists())
        link.action_unlink()
        self.assertFalse(message.exists())
        self.assertFalse(self.chatter_entries(self.contact, email))
        self.assertEqual(len(email.link_ids), 2)

    def test_create_contact_and_company_from_sender(self):
        _account, email = self._sync_messages(
            [self.message(sender="Nina Novak <nina@new-firm.example>")]
        )
        self.assertFalse(email.link_ids)
        action = email.action_create_contact()
        contact = self.Partner.browse(action["res_id"])
        self.assertEqual((contact.name, contact.email), ("Nina Novak", "nina@new-firm.example"))
        self.assertIn(("res.partner", contact.id), self.targets(email))
        action = email.action_create_company()
        company = self.Partner.browse(action["res_id"])
        self.assertTrue(company.is_company)
        self.assertEqual(contact.parent_id, company)
        self.assertIn(("res.partner", company.id), self.targets(email))

    def test_no_company_from_a_free_mail_domain(self):
        _account, email = self._sync_messages([self.message(sender="someone@gmail.com")])
        with self.assertRaises(UserError):
            email.action_create_company()
        self.assertFalse(self.Partner.search([("website", "ilike", "gmail.com")]))

    def test_retroactive_linking_when_an_address_appears(self):
        raws = [self.message(sender="late@newcomer.example", subject=f"Old {i}") for i in range(3)]
        _account, emails = self._sync_messages(raws)
        self.assertFalse(emails.link_ids)
        partner = self.Partner.create({"name": "Late Comer"})
        partner.email = "Late@Newcomer.example"
        self.assertEqual(emails.link_ids.mapped("res_id"), [partner.id] * 3)
        self.assertEqual(set(emails.link_ids.mapped("reason")), {"address"})
        lead = self.env["crm.lead"].create(
            {"name": "From the archive", "email_from": "late@newcomer.example"}
        )
        self.assertEqual(lead.crm_mail_email_count, 3)

    def test_retroactive_linking_of_a_large_archive_is_batched(self):
        raws = [self.message(sender="bulk@archive.example", subject=f"Bulk {i}") for i in range(5)]
        _account, emails = self._sync_messages(raws)
        Request = self.env["crm.mail.link.request"]
        with patch.object(crm_mail_link_request, "BATCH_SIZE", 2):
            partner = self.Partner.create({"name": "Bulk", "email": "bulk@archive.example"})
            # Too many emails to link while saving: a request waits for the cron.
            self.assertFalse(emails.link_ids)
            request = Request.search([("res_id", "=", partner.id)])
            self.assertEqual(request.address, "bulk@archive.example")
            Request._cron_process()
            self.assertEqual(len(emails.link_ids), 2)
            Request._cron_process()
            Request._cron_process()
        self.assertEqual(len(emails.link_ids), 5)
        self.assertFalse(request.exists())

    def test_link_queries_do_not_grow_with_the_batch(self):
        recipients = [f"r{i}@many.example" for i in range(50)]
        raws = [
            self.message(
                subject=f"To many {i}", sender="boss@many.example", to=", ".join(recipients)
            )
            for i in range(30)
        ]
        _account, emails = self._sync_messages(raws)
        self.Partner.with_context(crm_mail_sync_no_archive_link=True).create(
            [{"name": address, "email": address} for address in recipients]
        )
        self.assertFalse(emails.link_ids)
        self.env["crm.mail.linking"]._link_emails(emails[:1], notify=False)  # warm the caches
        counts = []
        for batch in (emails[1:2], emails[2:4], emails[4:30]):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.env["crm.mail.linking"]._link_emails(batch, notify=False)
            counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(len(batch.link_ids), 50 * len(batch))
        # 50 and 100 links fit in one INSERT of Odoo's (100 rows): the same queries.
        self.assertEqual(counts[0], counts[1], f"queries for 1, 2 and 27 emails: {counts}")
        # 1,300 links: only Odoo's INSERT chunks of 100 rows (links, chatter entries,
        # their relations) are added, never a query per email or per link.
        inserts = 3 * (1300 // 100 + 1)
        self.assertLessEqual(counts[2], counts[0] + inserts, f"queries: {counts}")
