# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Writing and sending email from Odoo through a mail account: the compose wizard,
read at a real SMTP sink and in the real Dovecot Sent folder."""

import email as email_lib
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from ..lib.addresses import split_plus
from .common import CrmMailSyncCase
from .servers import free_port


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestSending(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Users first: their invitation mail would go through the restricted server.
        cls.member = new_test_user(
            cls.env,
            login="sending_member",
            email="member@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user",
        )
        cls.outsider = new_test_user(
            cls.env,
            login="sending_outsider",
            email="outsider@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user",
        )
        cls.notifier = new_test_user(
            cls.env, login="notifier", email="notifier@elsewhere.example", name="Nora Notifier"
        )
        cls.plain_user = new_test_user(cls.env, login="plain_user", email="plain@example.org")
        cls.sink, cls.smtp = cls.start_smtp_sink()
        cls.mail_user.signature = "<p>Uma User, Sales</p>"
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carl Customer", "email": "carl@customer.example"}
        )

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("sender")
        self.account = self.create_personal_account(
            self.mail_user, self.login, password, smtp_server_id=self.smtp.id
        )
        self.folders = self.connect(self.account)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def composer(self, user=None, context=None, **vals):
        """A compose wizard as ``user`` (default: the personal account's owner)."""
        values = {
            "composition_mode": "comment",
            "model": "res.partner",
            "res_ids": str(self.customer.ids),
            "crm_mail_account_id": self.account.id,
            "partner_ids": [(6, 0, self.customer.ids)],
            "subject": "Your quotation",
            "body": "<p>Please find the quotation.</p>",
        }
        values.update(vals)
        values = {key: value for key, value in values.items() if value is not None}
        Composer = self.env["mail.compose.message"].with_user(user or self.mail_user)
        return Composer.with_context(**(context or {})).create(values)

    def send(self, composer):
        """Press Send; return (the wizard's answer, the messages the sink got)."""
        # Odoo skips the SMTP conversation while a test runs: lift that guard only here.
        with patch("odoo.modules.module.current_test", None):
            result = composer.action_send_mail()
        received = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        envelopes = list(self.sink.messages)
        self.sink.messages.clear()
        return result, received, envelopes

    def sent_email(self, subject):
        return self.Email.search(
            [("subject", "=", subject), ("direction", "=", "outgoing")], order="id desc"
        )

    @staticmethod
    def parts(message, content_type):
        return [part for part in message.walk() if part.get_content_type() == content_type]

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    def test_send_from_personal_account(self):
        composer = self.composer(
            crm_mail_email_cc="Colleague <colleague@ourcompany.example>",
            crm_mail_email_bcc="boss@ourcompany.example",
        )
        result, received, envelopes = self.send(composer)
        self.assertEqual(result, {"type": "ir.actions.act_window_close"})
        self.assertEqual(len(received), 1)
        message = received[0]
        self.assertEqual(message["From"], "crm_mail_user <crm.mail.user@example.com>")
        self.assertEqual(message["To"], "Carl Customer <carl@customer.example>")
        self.assertEqual(message["Cc"], "Colleague <colleague@ourcompany.example>")
        self.assertIsNone(message["Bcc"], "Bcc recipients must not be shown to the others")
        self.assertEqual(
            sorted(envelopes[0]["rcpt_tos"]),
            ["boss@ourcompany.example", "carl@customer.example", "colleague@ourcompany.example"],
        )
        self.assertEqual(envelopes[0]["mail_from"], "crm.mail.user@example.com")
        self.assertIsNone(message["Disposition-Notification-To"])
        # Always a plain-text alternative, signed like the HTML part.
        plain = self.parts(message, "text/plain")
        html = self.parts(message, "text/html")
        self.assertEqual(len(plain), 1)
        self.assertEqual(len(html), 1)
        self.assertIn("Please find the quotation.", plain[0].get_content())
        self.assertIn("Uma User, Sales", plain[0].get_content())
        self.assertIn("Uma User, Sales", html[0].get_content())

        archived = self.sent_email("Your quotation")
        self.assertEqual(len(archived), 1)
        self.assertEqual(archived.message_id, message["Message-Id"])
        self.assertEqual(archived.sent_by_user_id, self.mail_user)
        self.assertEqual(archived.sent_account_id, self.account)
        self.assertEqual(archived.account_ids, self.account)
        # Linked to the recipient's contact and shown in its chatter.
        link = archived.link_ids.filtered(lambda lk: lk.res_model == "res.partner")
        self.assertEqual(link.res_id, self.customer.id)
        self.assertEqual(link.mail_message_id.model, "res.partner")
        self.assertEqual(link.mail_message_id.res_id, self.customer.id)
        # The sender sees what they sent (the 'own' rule).
        self.assertEqual(
            self.Email.with_user(self.mail_user).search([("id", "=", archived.id)]), archived
        )

    def test_sent_from_a_lead_is_linked_to_it(self):
        # The lead's address matches nothing: only "written from here" links it.
        lead = self.env["crm.lead"].create(
            {"name": "Big deal", "email_from": "nobody-knows@prospect.example"}
        )
        composer = self.composer(
            model="crm.lead",
            res_ids=str(lead.ids),
            partner_ids=None,
            crm_mail_email_to="Buyer <buyer@prospect.example>",
            subject="About the big deal",
        )
        _result, received, _envelopes = self.send(composer)
        self.assertEqual(received[0]["To"], "Buyer <buyer@prospect.example>")
        archived = self.sent_email("About the big deal")
        link = archived.link_ids.filtered(lambda lk: lk.res_model == "crm.lead")
        self.assertEqual(link.res_id, lead.id)
        self.assertEqual(link.reason, "composed")
        self.assertEqual(link.mail_message_id.model, "crm.lead")
        self.assertEqual(link.mail_message_id.res_id, lead.id)

    def test_sent_copy_filed_by_the_provider_is_the_email_sent(self):
        """A provider that files sent mail itself may rewrite it (here: the To header
        re-quoted, which changes the content fingerprint): the copy synced from the Sent
        folder is still the one email, with one chatter entry per record."""
        self.account.sudo().save_sent_copy = False
        _result, _received, envelopes = self.send(self.composer(subject="Filed by provider"))
        email = self.sent_email("Filed by provider")
        self.assertEqual(len(email), 1)
        self.assertFalse(email.location_ids)
        raw = envelopes[0]["raw"]
        rewritten = raw.replace(
            b"To: Carl Customer <carl@customer.example>",
            b'To: "Carl Customer" <carl@customer.example>',
        )
        self.assertNotEqual(rewritten, raw)
        self.dovecot.append(self.login, "Sent", rewritten)
        self.sync(self.account.sudo())
        self.assertEqual(self.sent_email("Filed by provider"), email)
        self.assertEqual(email.location_ids.folder_id, self.folders["Sent"])
        self.assertEqual(len(self.chatter_entries(self.customer, email)), 1)
        # The same rewritten copy in the INBOX (anyone can send that) stays apart.
        self.dovecot.append(self.login, "INBOX", rewritten)
        self.sync(self.account.sudo())
        self.assertEqual(len(self.sent_email("Filed by provider")), 2)

    def test_read_receipt_and_private(self):
        composer = self.composer(
            subject="Confidential offer", crm_mail_read_receipt=True, crm_mail_private=True
        )
        _result, received, _envelopes = self.send(composer)
        self.assertEqual(received[0]["Disposition-Notification-To"], "crm.mail.user@example.com")
        archived = self.sent_email("Confidential offer")
        self.assertTrue(archived.is_private)
        self.assertTrue(archived.request_read_receipt)
        # Linked; its chatter entries show it to its sender alone (and administrators).
        self.assertTrue(archived.link_ids)
        entries = archived.link_ids.mail_message_id.filtered(lambda m: m.model == "res.partner")
        self.assertTrue(entries)
        self.assertEqual(
            {v["subject"] for v in entries.with_user(self.mail_user).read(["subject"])},
            {"Confidential offer"},
        )
        colleague = new_test_user(
            self.env,
            login="sending_all_level",
            groups="crm_mail_sync.group_crm_mail_all",
        )
        self.assertEqual(
            {v["subject"] for v in entries.with_user(colleague).read(["subject"])}, {False}
        )

    def test_signature_can_be_left_out(self):
        composer = self.composer(subject="Unsigned", email_add_signature=False)
        _result, received, _envelopes = self.send(composer)
        self.assertNotIn("Uma User, Sales", received[0].get_body(("html",)).get_content())

    def test_subject_and_recipients_required(self):
        with self.assertRaisesRegex(UserError, "subject"):
            self.send(self.composer(subject="  "))
        with self.assertRaisesRegex(UserError, "recipient"):
            self.send(self.composer(partner_ids=[(5, 0, 0)], subject="Nobody"))
        with self.assertRaisesRegex(UserError, "valid email address"):
            self.send(self.composer(crm_mail_email_to="not an address", subject="Bad"))
        self.assertFalse(self.sink.messages)

    def test_header_injection_is_neutralised(self):
        composer = self.composer(subject="Hello\r\nBcc: evil@attacker.example")
        _result, received, envelopes = self.send(composer)
        self.assertEqual(received[0]["Subject"], "Hello Bcc: evil@attacker.example")
        self.assertIsNone(received[0]["Bcc"])
        self.assertNotIn("evil@attacker.example", envelopes[0]["rcpt_tos"])
        with self.assertRaisesRegex(UserError, "line break"):
            self.send(
                self.composer(crm_mail_email_cc="a@example.com\r\nBcc: evil@attacker.example")
            )

    def test_template_is_rendered_for_the_record(self):
        template = self.env["mail.template"].create(
            {
                "name": "Quotation follow-up",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "subject": "Follow-up for {{ object.name }}",
                "body_html": "<p>Dear <t t-out='object.name'/>, any questions?</p>",
            }
        )
        composer = self.composer(template_id=template.id, subject=None, body=None)
        self.assertEqual(composer.subject, "Follow-up for Carl Customer")
        _result, received, _envelopes = self.send(composer)
        self.assertEqual(received[0]["Subject"], "Follow-up for Carl Customer")
        self.assertIn(
            "Dear Carl Customer, any questions?",
            received[0].get_body(("html",)).get_content(),
        )

    def test_attachments_from_disk_and_from_the_record(self):
        on_record = self.env["ir.attachment"].create(
            {
                "name": "contract.pdf",
                "raw": b"%PDF-1.4 contract",
                "mimetype": "application/pdf",
                "res_model": "res.partner",
                "res_id": self.customer.id,
            }
        )
        uploaded = (
            self.env["ir.attachment"]
            .with_user(self.mail_user)
            .create(
                {
                    "name": "notes.txt",
                    "raw": b"uploaded from disk",
                    "res_model": "mail.compose.message",
                    "res_id": 0,
                }
            )
        )
        composer = self.composer(
            subject="Files",
            attachment_ids=[(6, 0, uploaded.ids)],
            crm_mail_record_attachment_ids=[(6, 0, on_record.ids)],
        )
        self.assertIn(on_record, composer.crm_mail_available_attachment_ids)
        _result, received, _envelopes = self.send(composer)
        files = {part.get_filename(): part.get_content() for part in received[0].iter_attachments()}
        self.assertEqual(files["contract.pdf"], b"%PDF-1.4 contract")
        self.assertEqual(files["notes.txt"], "uploaded from disk")
        archived = self.sent_email("Files")
        self.assertEqual(
            sorted(archived.attachment_ids.mapped("name")), ["contract.pdf", "notes.txt"]
        )
        self.assertTrue(on_record.exists(), "the record keeps its own attachment")

    # ------------------------------------------------------------------
    # The Sent folder
    # ------------------------------------------------------------------

    def test_appended_to_sent_then_synced_without_duplicate(self):
        self.assertTrue(self.account.save_sent_copy)
        composer = self.composer(
            subject="Filed in Sent", crm_mail_email_bcc="boss@ourcompany.example"
        )
        _result, received, _envelopes = self.send(composer)
        archived = self.sent_email("Filed in Sent")
        with self.dovecot.imap(self.login) as imap:
            imap.select('"Sent"', readonly=True)
            _typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        raw = data[0][1]
        self.assertIn(b"\\Seen", data[0][0])
        copy = email_lib.message_from_bytes(raw, policy=policy.default)
        self.assertEqual(copy["Message-Id"], received[0]["Message-Id"])
        self.assertEqual(copy["Bcc"], "boss@ourcompany.example", "the Sent copy keeps the Bcc")
        sent_folder = self.folders["Sent"]
        self.assertEqual(archived.location_ids.folder_id, sent_folder)

        before = self.Email.search_count([])
        self.sync(self.account.sudo())
        self.assertEqual(self.Email.search_count([]), before)
        self.assertEqual(self.sent_email("Filed in Sent"), archived)
        self.assertEqual(len(archived.location_ids), 1)

    def test_copy_synced_from_sent_matches_when_the_location_was_unknown(self):
        """A provider that files sent mail itself: Odoo does not append, and the copy
        the provider filed is recognised by its Message-ID and fingerprint."""
        self.account.save_sent_copy = False
        composer = self.composer(subject="Filed by the provider")
        _result, received, envelopes = self.send(composer)
        archived = self.sent_email("Filed by the provider")
        self.assertFalse(archived.location_ids)
        with self.dovecot.imap(self.login) as imap:
            _typ, data = imap.select('"Sent"', readonly=True)
        self.assertEqual(data, [b"0"], "nothing appended when the provider files it")
        # The provider's copy: what went over SMTP, with its own trace headers.
        self.dovecot.append(
            self.login, "Sent", b"Received: by smtp.provider.example\r\n" + envelopes[0]["raw"]
        )
        self.sync(self.account.sudo())
        self.assertEqual(self.sent_email("Filed by the provider"), archived)
        self.assertEqual(archived.location_ids.folder_id, self.folders["Sent"])

    # ------------------------------------------------------------------
    # Group accounts
    # ------------------------------------------------------------------

    def test_group_account_allowed_and_refused(self):
        member, outsider = self.member, self.outsider
        team = self.env["crm.team"].create({"name": "Sales", "member_ids": [(6, 0, member.ids)]})
        login, password = self.new_mailbox("sales")
        group_smtp = self.smtp.copy({"name": "group sink", "from_filter": False})
        sales = self.create_account(
            login,
            password,
            name="Sales Team",
            is_shared=True,
            send_permission="team",
            team_ids=[(6, 0, team.ids)],
            smtp_server_id=group_smtp.id,
        )
        self.connect(sales)
        Accounts = self.env["crm.mail.account"]
        self.assertIn(sales, Accounts.with_user(member)._get_sendable_accounts())
        self.assertNotIn(sales, Accounts.with_user(outsider)._get_sendable_accounts())

        composer = self.composer(user=member, crm_mail_account_id=sales.id, subject="From sales")
        _result, received, _envelopes = self.send(composer)
        self.assertEqual(received[0]["From"], f"Sales Team <{sales.email}>")
        # Written from a contact: answers come back under the contact's signed tag.
        name, reply_to = parseaddr(str(received[0]["Reply-To"]))
        self.assertEqual(name, "Sales Team")
        self.assertEqual(split_plus(reply_to)[0], sales.email)
        self.assertRegex(split_plus(reply_to)[1], rf"^partner{self.customer.id}-[a-z2-7]{{13}}$")
        archived = self.sent_email("From sales")
        self.assertEqual(archived.sent_by_user_id, member)
        self.assertEqual(archived.sent_account_id, sales)

        refused = self.composer(user=outsider, crm_mail_account_id=sales.id, subject="Nope")
        with self.assertRaises(AccessError):
            self.send(refused)
        self.assertFalse(self.sent_email("Nope"))

    # ------------------------------------------------------------------
    # Drafts and failures
    # ------------------------------------------------------------------

    def test_draft_saved_and_reopened(self):
        upload = (
            self.env["ir.attachment"]
            .with_user(self.mail_user)
            .create(
                {
                    "name": "draft.txt",
                    "raw": b"draft file",
                    "res_model": "mail.compose.message",
                    "res_id": 0,
                }
            )
        )
        composer = self.composer(
            subject="Half written",
            body="<p>To be continued</p>",
            crm_mail_email_cc="cc@customer.example",
            crm_mail_read_receipt=True,
            attachment_ids=[(6, 0, upload.ids)],
        )
        result = composer.action_crm_mail_save_draft()
        self.assertEqual(result["params"]["next"], {"type": "ir.actions.act_window_close"})
        draft = self.env["crm.mail.draft"].with_user(self.mail_user).search([])
        self.assertEqual(len(draft), 1)
        self.assertEqual(draft.subject, "Half written")
        self.assertEqual(draft.res_id, self.customer.id)
        self.assertEqual(
            (upload.res_model, upload.res_id),
            ("crm.mail.draft", draft.id),
            "the draft takes over the wizard's uploads, which would be purged",
        )
        # Somebody else does not see it, even an administrator.
        self.assertFalse(self.env["crm.mail.draft"].with_user(self.mail_admin).search([]))

        action = draft.action_open_composer()
        reopened = (
            self.env["mail.compose.message"]
            .with_user(self.mail_user)
            .with_context(**action["context"])
            .create({})
        )
        self.assertEqual(reopened.subject, "Half written")
        self.assertIn("To be continued", reopened.body)
        self.assertEqual(reopened.crm_mail_account_id, self.account)
        self.assertEqual(reopened.partner_ids, self.customer)
        self.assertEqual(reopened.crm_mail_email_cc, "cc@customer.example")
        self.assertTrue(reopened.crm_mail_read_receipt)
        self.assertEqual(reopened.attachment_ids, upload)
        self.assertEqual(reopened.model, "res.partner")
        _result, received, _envelopes = self.send(reopened)
        self.assertEqual(received[0]["Subject"], "Half written")
        self.assertEqual({p.get_filename() for p in received[0].iter_attachments()}, {"draft.txt"})
        self.assertFalse(draft.exists(), "a sent draft is gone")

    def test_smtp_down_keeps_the_draft(self):
        self.smtp.smtp_port = free_port()  # nothing listens there
        composer = self.composer(subject="Lost in transit", body="<p>Every word counts</p>")
        result, received, _envelopes = self.send(composer)
        self.assertFalse(received)
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("not sent", result["params"]["message"])
        draft = self.env["crm.mail.draft"].with_user(self.mail_user).search([])
        self.assertEqual(draft.subject, "Lost in transit")
        self.assertIn("Every word counts", draft.body)
        self.assertIn("not sent", draft.last_error)
        self.assertEqual(result["params"]["next"]["context"]["default_crm_mail_draft_id"], draft.id)
        self.assertFalse(self.sent_email("Lost in transit"), "nothing archived as sent")

    def test_account_without_outgoing_server_keeps_the_draft(self):
        self.account.smtp_server_id = False
        self.smtp.from_filter = "someone.else@example.com"
        result, received, _envelopes = self.send(self.composer(subject="No server"))
        self.assertFalse(received)
        self.assertIn("no outgoing server", result["params"]["message"])
        self.assertEqual(
            self.env["crm.mail.draft"].with_user(self.mail_user).search([]).subject, "No server"
        )

    # ------------------------------------------------------------------
    # Reply, reply all, forward
    # ------------------------------------------------------------------

    def receive(self, subject, attachment=None):
        """An email arriving in the personal mailbox, synced."""
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = "Carl Customer <carl@customer.example>"
        message["To"] = "crm.mail.user@example.com, Dana <dana@customer.example>"
        message["Cc"] = "Eve <eve@customer.example>, crm.mail.user@example.com"
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(timezone.utc))
        message["Message-ID"] = f"<{subject.replace(' ', '-')}@customer.example>"
        message.set_content("The original text.")
        if attachment:
            name, mimetype, data = attachment
            maintype, subtype = mimetype.split("/")
            message.add_attachment(data, maintype, subtype, filename=name)
        self.dovecot.append(self.login, "INBOX", message.as_bytes())
        self.sync(self.account.sudo())
        return self.Email.search([("subject", "=", subject)])

    def reply_composer(self, original, mode):
        action = original.with_user(self.mail_user)._open_composer(mode)
        return (
            self.env["mail.compose.message"]
            .with_user(self.mail_user)
            .with_context(**action["context"])
            .create({})
        )

    def test_reply_sets_threading_headers(self):
        original = self.receive("Question about delivery")
        original.references = "<earlier@customer.example>"
        composer = self.reply_composer(original, "reply")
        self.assertEqual(composer.subject, "Re: Question about delivery")
        self.assertEqual(composer.crm_mail_account_id, self.account)
        self.assertEqual(composer.crm_mail_email_to, "Carl Customer <carl@customer.example>")
        self.assertFalse(composer.crm_mail_email_cc)
        self.assertIn("wrote:", composer.body)
        self.assertIn("<blockquote", composer.body)
        _result, received, _envelopes = self.send(composer)
        message = received[0]
        self.assertEqual(message["In-Reply-To"], "<Question-about-delivery@customer.example>")
        self.assertEqual(
            message["References"],
            "<earlier@customer.example> <Question-about-delivery@customer.example>",
        )
        reply = self.sent_email("Re: Question about delivery")
        self.assertEqual(reply.in_reply_to, original.message_id)

    def test_reply_all_answers_everyone_but_oneself(self):
        original = self.receive("Meeting next week")
        composer = self.reply_composer(original, "reply_all")
        self.assertEqual(
            composer.crm_mail_email_to,
            "Carl Customer <carl@customer.example>, Dana <dana@customer.example>",
        )
        self.assertEqual(composer.crm_mail_email_cc, "Eve <eve@customer.example>")
        _result, _received, envelopes = self.send(composer)
        self.assertEqual(
            sorted(envelopes[0]["rcpt_tos"]),
            ["carl@customer.example", "dana@customer.example", "eve@customer.example"],
        )

    def test_forward_keeps_attachments(self):
        original = self.receive(
            "Signed contract", attachment=("signed.pdf", "application/pdf", b"%PDF signed")
        )
        self.assertEqual(original.attachment_ids.mapped("name"), ["signed.pdf"])
        composer = self.reply_composer(original, "forward")
        self.assertEqual(composer.subject, "Fwd: Signed contract")
        self.assertEqual(composer.crm_mail_record_attachment_ids, original.attachment_ids)
        self.assertIn("Forwarded message", composer.body)
        composer.crm_mail_email_to = "legal@ourcompany.example"
        _result, received, _envelopes = self.send(composer)
        message = received[0]
        self.assertIsNone(message["In-Reply-To"])
        files = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
        self.assertEqual(files, {"signed.pdf": b"%PDF signed"})

    # ------------------------------------------------------------------
    # Outgoing servers
    # ------------------------------------------------------------------

    def test_outgoing_server_created_from_the_provider(self):
        login, password = self.new_mailbox("gmail")
        account = self.create_account(login, password, provider="gmail", email="team@gmail.example")
        self.assertFalse(account.save_sent_copy, "Gmail files sent mail itself")
        account.with_user(self.mail_admin).action_create_smtp_server()
        server = account.smtp_server_id
        self.assertEqual(
            (server.smtp_host, server.smtp_port, server.smtp_encryption),
            ("smtp.gmail.com", 465, "ssl"),
        )
        self.assertEqual(server.from_filter, "team@gmail.example")
        self.assertEqual(server.smtp_user, login)
        self.assertEqual(server.smtp_pass, password)

    def test_default_sender_sends_system_mail(self):
        login, password = self.new_mailbox("support")
        group_smtp = self.smtp.copy({"name": "support sink", "from_filter": False})
        support = self.create_account(login, password, name="Support", smtp_server_id=group_smtp.id)
        support.with_user(self.mail_admin).is_default_sender = True
        self.assertEqual(group_smtp.from_filter, support.email)
        self.assertEqual(self.env.company.default_from_email, support.email)
        server, email_from = self.env["ir.mail_server"]._find_mail_server(
            "somebody@elsewhere.example"
        )
        self.assertEqual((server, email_from), (group_smtp, support.email))

        # A notification from a user whose address no server may send as.
        author = self.notifier
        self.customer.with_context(mail_notify_force_send=False).message_post(
            author_id=author.partner_id.id,
            email_from=author.email_formatted,
            body="Your order shipped",
            partner_ids=self.customer.ids,
            subtype_xmlid="mail.mt_comment",
        )
        with patch("odoo.modules.module.current_test", None):
            self.env["mail.mail"].sudo().search([("state", "=", "outgoing")]).send()
        received = [
            email_lib.message_from_bytes(m["raw"], policy=policy.default)
            for m in self.sink.messages
        ]
        self.assertEqual(len(received), 1)
        self.assertEqual(received[0]["From"].addresses[0].addr_spec, support.email)
        self.assertIn("Nora Notifier", received[0]["From"].addresses[0].display_name)

        with self.assertRaises(ValidationError):
            self.create_account(*self.new_mailbox("other"), is_default_sender=True)
        support.with_user(self.mail_admin).is_default_sender = False
        self.assertNotEqual(self.env.company.default_from_email, support.email)

    def test_odoo_composer_unchanged_without_an_account(self):
        """Without 'Send From' the wizard is Odoo's own: a message on the chatter."""
        plain = self.plain_user
        arch = (
            self.env["mail.compose.message"]
            .with_user(plain)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertNotIn('name="action_crm_mail_save_draft"', arch)
        self.assertIn('name="crm_mail_account_id"', arch, "kept invisible for the modifiers")
        user_arch = (
            self.env["mail.compose.message"]
            .with_user(self.mail_user)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn('name="action_crm_mail_save_draft"', user_arch)

        composer = self.composer(
            user=self.env.ref("base.user_admin"), crm_mail_account_id=False, subject="Note"
        )
        before = self.Email.search_count([])
        _result, received, _envelopes = self.send(composer)
        message = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.customer.id)], limit=1
        )
        self.assertEqual(message.subject, "Note")
        self.assertEqual(self.Email.search_count([]), before)
