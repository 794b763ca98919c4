# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The inbox: per-user read and star state, remote images, folders with unread
counts, bulk actions, saving attachments to records, menus per level, and a real
browser tour through it."""

import uuid
from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from . import mail_corpus
from .common import CrmMailSyncCase, admin_mailbox_with


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestInbox(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.colleague = new_test_user(
            cls.env,
            login="inbox_colleague",
            email="inbox.colleague@example.com",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("inbox")
        self.account = self.create_personal_account(self.mail_user, self.login, password)
        self.connect(self.account)
        self.account.sudo().live_since = self.days_ago(1)

    def deliver(self, subject, body="Hello", html=None):
        if html:
            raw = (
                f"From: Carl <carl@customer.example>\r\nTo: {self.mail_user.email}\r\n"
                f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@customer.example>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                f"{html}\r\n"
            ).encode()
        else:
            raw = self.message(
                subject=subject, sender="carl@customer.example", to=self.mail_user.email, body=body
            )
        self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account.sudo())
        return self.Email.search([("subject", "=", subject)])

    def test_read_state_is_per_user(self):
        email = self.deliver("Per-user read")
        mine, theirs = email.with_user(self.mail_user), email.with_user(self.colleague)
        self.assertFalse(mine.is_read)
        unread = self.Email.with_user(self.mail_user).search([("is_read", "=", False)])
        self.assertIn(email, unread)
        # Opening the email in the form reads it, for this user only.
        mine.web_read({"subject": {}, "body_display": {}})
        mine.invalidate_recordset()
        self.assertTrue(mine.is_read)
        self.assertFalse(theirs.is_read)
        self.assertNotIn(
            email, self.Email.with_user(self.mail_user).search([("is_read", "=", False)])
        )
        self.assertIn(email, self.Email.with_user(self.colleague).search([("is_read", "=", False)]))
        # The list does not mark read.
        theirs.web_read({"subject": {}})
        theirs.invalidate_recordset()
        self.assertFalse(theirs.is_read)
        mine.action_mark_unread()
        mine.invalidate_recordset()
        self.assertFalse(mine.is_read)

    def test_read_state_changes_show_within_the_request(self):
        # A reader's change is written as the superuser: the reader sees it at once,
        # and a later change in the same request is not skipped as a no-op.
        mine = self.deliver("Read, unread, read").with_user(self.mail_user)
        mine.action_mark_read()
        self.assertTrue(mine.is_read)
        mine.action_mark_unread()
        self.assertFalse(mine.is_read)
        self.assertNotIn(self.mail_user, mine.sudo().read_by_user_ids)
        mine.action_star()
        self.assertTrue(mine.is_starred)
        mine.action_unstar()
        self.assertFalse(mine.is_starred)
        self.assertFalse(mine.sudo().starred_by_user_ids)

    def test_star_without_write_access(self):
        email = self.deliver("Star me")
        mine = email.with_user(self.mail_user)
        with self.assertRaises(AccessError):
            mine.write({"subject": "changed"})
        mine.write({"is_starred": True})
        self.assertEqual(
            self.Email.with_user(self.mail_user).search([("is_starred", "=", True)]), email
        )
        self.assertFalse(email.with_user(self.colleague).is_starred)
        mine.action_unstar()
        mine.invalidate_recordset()
        self.assertFalse(mine.is_starred)
        # A user who may not read the email cannot star it either.
        stranger = new_test_user(
            self.env,
            login="inbox_stranger",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user",
        )
        with self.assertRaises(AccessError):
            email.with_user(stranger).write({"is_starred": True})

    def test_bulk_actions(self):
        """The list's buttons on a selection, as the web client calls them."""
        emails = self.deliver("Bulk one") | self.deliver("Bulk two")
        arch = self.Email.with_user(self.mail_user).get_views([(False, "list")])["views"]["list"]
        for method in ("action_mark_read", "action_star", "action_move_to_trash"):
            self.assertIn(f'name="{method}"', arch["arch"])
            getattr(emails.with_user(self.mail_user), method)()
        mine = emails.with_user(self.mail_user)
        mine.invalidate_recordset()
        self.assertTrue(all(mine.mapped("is_read")))
        self.assertTrue(all(mine.mapped("is_starred")))
        self.assertTrue(all(mine.mapped("is_in_my_trash")))
        theirs = emails.with_user(self.colleague)
        self.assertFalse(any(theirs.mapped("is_in_my_trash")))
        self.assertFalse(any(theirs.mapped("is_starred")))
        emails.with_user(self.mail_user).action_mark_unread()
        mine.invalidate_recordset()
        self.assertFalse(any(mine.mapped("is_read")))

    def test_remote_images_blocked_until_shown(self):
        email = self.deliver(
            "Newsletter",
            html='<p>News</p><img src="https://tracker.example/pixel.gif?u=42" width="1">',
        )
        mine = email.with_user(self.mail_user)
        self.assertTrue(mine.has_blocked_images)
        self.assertNotIn(' src="https://tracker.example', mine.body_display)
        self.assertIn(
            'data-crm-blocked-src="https://tracker.example/pixel.gif?u=42"', mine.body_display
        )
        self.assertIn("tracker.example/pixel.gif", email.body_html, "the stored body keeps it")
        mine.action_show_remote_images()
        mine.invalidate_recordset()
        self.assertFalse(mine.has_blocked_images)
        self.assertIn('src="https://tracker.example/pixel.gif?u=42"', mine.body_display)
        self.assertTrue(email.with_user(self.colleague).has_blocked_images, "for that user only")

    def test_snippet_link_marker_and_contact(self):
        customer = self.env["res.partner"].create(
            {"name": "Carl", "email": "carl@customer.example"}
        )
        email = self.deliver("Snippet", body="First line\r\n\r\n   of   the body " + "x" * 300)
        self.assertEqual(email.snippet[:29], "First line of the body xxxxxx")
        self.assertEqual(len(email.snippet), 140)
        self.assertTrue(email.is_linked)
        self.assertEqual(email.partner_id, customer)
        self.assertEqual(
            email.folder_ids, self.account.folder_ids.filtered(lambda f: f.name == "INBOX")
        )
        lonely = self.deliver("Nobody knows me")
        lonely.link_ids.unlink()
        self.assertFalse(lonely.is_linked)
        self.assertIn(lonely, self.Email.search([("is_linked", "=", False)]))

    def test_private_snippet_hidden(self):
        email = self.deliver("Secret plans", body="the secret content")
        email.with_user(self.mail_user).action_make_private()
        # A private email is another user's alone: not even its snippet is readable.
        with self.assertRaises(AccessError):
            email.with_user(self.colleague).read(["snippet", "body_display"])
        self.assertFalse(
            self.Email.with_user(self.colleague).search([("snippet", "ilike", "secret")])
        )

    def test_folders_show_unread_counts(self):
        self.deliver("Count one")
        self.deliver("Count two").with_user(self.mail_user).action_mark_read()
        inbox = self.account.folder_ids.filtered(lambda f: f.name == "INBOX")
        counted = inbox.with_user(self.mail_user).with_context(
            crm_mail_unread_counts=True, crm_mail_folder_panel=True
        )
        self.assertEqual(counted.display_name, "INBOX (1)")
        # Elsewhere (a group-by label, a location's folder) the mailbox tells INBOXes apart.
        self.assertEqual(
            inbox.with_user(self.mail_user).with_context(crm_mail_unread_counts=True).display_name,
            f"{self.account.name} / INBOX",
        )
        panel = (
            self.env["crm.mail.email"]
            .with_user(self.mail_user)
            .with_context(crm_mail_unread_counts=True)
            .search_panel_select_multi_range("folder_ids", group_by="account_id", expand=True)
        )
        names = {value["display_name"] for value in panel["values"]}
        self.assertIn("INBOX (1)", names)

    def test_save_attachments_to_a_record(self):
        raw = (
            b"From: carl@customer.example\r\nTo: crm.mail.user@example.com\r\n"
            b"Subject: Invoice attached\r\nMessage-ID: <inv@customer.example>\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
            b"--b\r\nContent-Type: application/pdf\r\n"
            b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERiBpbnZvaWNl\r\n--b--\r\n"
        )
        self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account.sudo())
        email = self.Email.search([("subject", "=", "Invoice attached")])
        lead = self.env["crm.lead"].create({"name": "Big deal"})
        self.mail_user.groups_id += self.env.ref("sales_team.group_sale_salesman_all_leads")
        action = email.with_user(self.mail_user).action_open_save_attachments()
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.mail_user)
            .with_context(**action["context"])
            .create({"target": f"crm.lead,{lead.id}"})
        )
        self.assertEqual(wizard.attachment_ids, email.attachment_ids)
        wizard.action_save()
        saved = self.env["ir.attachment"].search(
            [("res_model", "=", "crm.lead"), ("res_id", "=", lead.id)]
        )
        self.assertEqual(saved.name, "invoice.pdf")
        self.assertEqual(saved.raw, b"%PDF invoice")
        self.assertEqual(email.attachment_ids.res_id, email.id, "the email keeps its own")

    def test_fetch_now_and_initial_import_notice(self):
        self.dovecot.append(self.login, "INBOX", self.message(subject="Fetched by the button"))
        self.assertFalse(self.account.sudo().initial_import_done)
        result = self.Email.with_user(self.mail_user).action_fetch_my_accounts()
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("1 new emails imported", result["params"]["message"])
        self.assertTrue(self.Email.search([("subject", "=", "Fetched by the button")]))
        self.assertTrue(self.account.sudo().initial_import_done)
        nobody = new_test_user(
            self.env,
            login="inbox_no_account",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user",
        )
        with self.assertRaisesRegex(UserError, "no mail account"):
            self.Email.with_user(nobody).action_fetch_my_accounts()

    def test_sync_health(self):
        account = self.account.sudo()
        account.last_sync_at = datetime.now()
        self.assertEqual(account.sync_lag, "less than a minute")
        account.last_sync_at = datetime.now() - timedelta(hours=5, minutes=1)
        self.assertEqual(account.sync_lag, "5 hours")
        account.last_error = "The server refused the login and password."
        self.assertIn("app password", account.last_error_advice)
        account.last_error = "Connection refused by imap.example.com:993"
        self.assertIn("firewall", account.last_error_advice)

    def test_menus_per_level(self):
        Menu = self.env["ir.ui.menu"]
        root = self.env.ref("crm_mail_sync.menu_crm_mail_root")
        inbox = self.env.ref("crm_mail_sync.menu_crm_mail_email")
        quarantine = self.env.ref("crm_mail_sync.menu_crm_mail_quarantine")
        nobody = new_test_user(self.env, login="inbox_no_level", groups="base.group_user")

        def visible(user):
            return set(Menu.with_user(user)._visible_menu_ids())

        self.assertNotIn(root.id, visible(nobody))
        self.assertTrue({root.id, inbox.id} <= visible(self.mail_user))
        self.assertNotIn(quarantine.id, visible(self.mail_user))
        self.assertIn(quarantine.id, visible(self.mail_admin))
        for xmlid in (
            "menu_crm_mail_email_sent",
            "menu_crm_mail_email_starred",
            "menu_crm_mail_email_trash",
            "menu_crm_mail_case",
            "menu_crm_mail_draft",
        ):
            self.assertIn(self.env.ref(f"crm_mail_sync.{xmlid}").id, visible(self.mail_user))


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestInboxTour(HttpCase):
    """Headless Chromium through the inbox, as a user does it."""

    def test_inbox_tour(self):
        admin = self.env.ref("base.user_admin")
        admin_mailbox_with(
            self.env,
            "tour",
            mail_corpus.simple_message(
                subject="Tour question about delivery",
                sender="Carl Tour <carl.tour@customer.example>",
                to=admin.email,
                body="When will my order arrive?",
            ),
            live=True,
        )
        dana = self.env["res.partner"].create(
            {"name": "Dana Tour", "email": "dana.tour@example.org"}
        )
        email = self.env["crm.mail.email"].search(
            [("subject", "=", "Tour question about delivery")]
        )
        self.assertFalse(email.with_user(admin).is_read)

        self.start_tour(
            "/odoo/action-crm_mail_sync.crm_mail_email_action",
            "crm_mail_sync_inbox_tour",
            login="admin",
            timeout=120,
        )

        email.invalidate_recordset()
        as_admin = email.with_user(admin)
        self.assertTrue(as_admin.is_read)
        self.assertTrue(as_admin.is_starred)
        self.assertIn(
            ("res.partner", dana.id), [(lk.res_model, lk.res_id) for lk in email.link_ids]
        )
        reply = self.env["crm.mail.email"].search([("in_reply_to", "=", email.message_id)])
        self.assertEqual(reply.subject, "Re: Tour question about delivery")
        self.assertEqual(reply.direction, "outgoing")
        chatter = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", dana.id)]
        )
        # The entry shows the archived reply (it holds no copy of it).
        shown = chatter.with_user(admin).read(["body"])
        self.assertTrue(any("it ships tomorrow" in (m["body"] or "") for m in shown))


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestInboxViews(CrmMailSyncCase):
    def test_list_and_form_load_for_every_level(self):
        """The inbox must open for a reader who may not read the mailbox an email is in
        (another user's personal account): the views show names, not relations."""
        login, password = self.new_mailbox("views")
        account = self.create_personal_account(self.mail_user, login, password)
        self.connect(account)
        self.dovecot.append(
            login, "INBOX", self.message(subject="Seen by all", to=self.mail_user.email)
        )
        self.sync(account.sudo())
        email = self.Email.search([("subject", "=", "Seen by all")])
        reader = new_test_user(
            self.env,
            login="views_all_reader",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )
        Email = self.Email.with_user(reader).with_context(crm_mail_unread_counts=1)
        with self.assertRaises(AccessError):
            account.with_user(reader).read(["name"])
        for view_type in ("list", "form"):
            view = Email.get_views([(False, view_type)])
            fields = view["models"]["crm.mail.email"]["fields"]
            spec = {
                name: {}
                for name in fields
                if fields[name]["type"] not in ("one2many", "many2many", "many2one")
            }
            if view_type == "list":
                page = Email.web_search_read([("id", "=", email.id)], spec, limit=80)
                self.assertEqual(page["records"][0]["account_names"], account.name)
            else:
                record = Email.browse(email.id).web_read(spec)[0]
                self.assertEqual(record["subject"], "Seen by all")
        # Group labels of mailboxes and folders the reader may not open, not an error.
        for groupby in ("account_ids", "folder_ids"):
            groups = Email.web_read_group([("id", "=", email.id)], [groupby], [groupby])
            self.assertEqual(len(groups["groups"]), 1)
            label = groups["groups"][0][groupby][1]
            self.assertIn(account.name, label)
        panel = Email.search_panel_select_multi_range(
            "folder_ids", group_by="account_id", expand=True
        )
        self.assertIsInstance(panel["values"], list)
