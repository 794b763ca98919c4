# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Templates in "New Email" and in the inbox's replies, and the signature of a group
mailbox: read at the real SMTP sink."""

from odoo.exceptions import UserError
from odoo.tests import tagged

from .compose_common import ComposeCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestComposeTemplates(ComposeCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acknowledgement = cls.env.ref("crm_mail_sync.mail_template_contact_acknowledgement")
        cls.follow_up = cls.env.ref("crm_mail_sync.mail_template_lead_follow_up")
        Template = cls.env["mail.template"]
        cls.admins_own = Template.create(
            {
                "name": "Admin's private template",
                "model_id": cls.env["ir.model"]._get_id("res.partner"),
                "subject": "Private",
                "user_id": cls.mail_admin.id,
            }
        )
        cls.case_template = cls.env.ref("crm_mail_sync.mail_template_case_auto_reply")
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Big deal", "contact_name": "Carla Buyer", "type": "opportunity"}
        )

    def apply(self, composer, template):
        """Pick ``template`` in the composer, as the web client does (onchange)."""
        composer.crm_mail_template_id = template
        composer._onchange_crm_mail_template_id()

    # ------------------------------------------------------------------
    # Templates
    # ------------------------------------------------------------------

    def test_new_email_with_a_generic_template(self):
        composer = self.new_email(crm_mail_email_to="carl@customer.example")
        self.assertEqual(composer.crm_mail_account_id, self.account)
        offered = composer.crm_mail_template_ids
        self.assertIn(self.acknowledgement, offered, "contact templates are the generic ones")
        self.assertNotIn(self.follow_up, offered, "no lead: no lead template")
        self.assertNotIn(self.case_template, offered)
        self.assertNotIn(self.admins_own, offered, "another user's own template")

        self.apply(composer, self.acknowledgement)
        self.assertEqual(composer.subject, "We have received your message")
        # Written for the contact of the address typed in To.
        self.assertIn("Hello Carl Customer,", composer.body)
        received = self.send(composer)
        self.assertEqual(len(received), 1)
        self.assertEqual(received[0]["Subject"], "We have received your message")
        self.assertEqual(received[0]["To"], "carl@customer.example")
        html = self.html(received[0])
        self.assertIn("Hello Carl Customer,", html)
        self.assertIn("we have received it", html)
        self.assertIn("Uma User, Sales", html, "signed as without a template")

    def test_generic_template_without_a_known_contact(self):
        composer = self.new_email(crm_mail_email_to="stranger@nowhere.example")
        self.apply(composer, self.acknowledgement)
        self.assertIn("Hello,", composer.body)
        received = self.send(composer)
        self.assertIn("Hello,", self.html(received[0]))

    def test_reply_with_the_template_of_the_linked_lead(self):
        original = self.receive("Question about the offer")
        original.sudo()._link_by_hand(self.lead)
        composer = self.reply_composer(original, "reply")
        offered = composer.crm_mail_template_ids
        self.assertIn(self.follow_up, offered, "the linked lead's templates")
        self.assertIn(self.acknowledgement, offered)
        self.assertNotIn(self.case_template, offered, "the email has no case")

        self.apply(composer, self.follow_up)
        self.assertEqual(composer.subject, "Re: Question about the offer", "a reply stays one")
        received = self.send(composer)
        message = received[0]
        self.assertEqual(message["Subject"], "Re: Question about the offer")
        self.assertEqual(message["In-Reply-To"], "<Question-about-the-offer@customer.example>")
        html = self.html(message)
        # Rendered for the lead, the quoted original below it.
        self.assertIn("Hello Carla Buyer,", html)
        self.assertRegex(html, r"Following up on (&#34;|&quot;|\")Big deal")
        self.assertIn("<blockquote", html)
        self.assertIn("The original text.", html)
        self.assertLess(html.index("Following up"), html.index("The original text."))

        # Another template replaces the first one's text, the quote stays once.
        composer = self.reply_composer(original, "reply")
        self.apply(composer, self.follow_up)
        self.apply(composer, self.acknowledgement)
        self.assertNotIn("Following up", composer.body)
        self.assertIn("Hello Carl Customer,", composer.body, "the contact of the recipient")
        self.assertEqual(composer.body.count("The original text."), 1)

    def test_template_picked_in_the_web_client(self):
        """The form's onchange route, on a record not saved yet: a template with a
        file, picked in a reply."""
        self.follow_up.attachment_ids = self.env["ir.attachment"].create(
            {
                "name": "brochure.pdf",
                "raw": b"%PDF-1.4 brochure",
                "res_model": "mail.template",
                "res_id": self.follow_up.id,
            }
        )
        original = self.receive("Brochure please")
        original.sudo()._link_by_hand(self.lead)
        context = original.with_user(self.mail_user)._open_composer("reply")["context"]
        Composer = self.env["mail.compose.message"].with_user(self.mail_user)
        Composer = Composer.with_context(**context)
        spec = {
            name: {}
            for name in (
                "composition_mode",
                "model",
                "res_ids",
                "subject",
                "body",
                "crm_mail_account_id",
                "crm_mail_parent_email_id",
                "crm_mail_reply_mode",
                "crm_mail_email_to",
                "crm_mail_template_id",
                "crm_mail_template_ids",
            )
        }
        spec["attachment_ids"] = {"fields": {"name": {}}}
        defaults = Composer.onchange({}, [], spec)["value"]
        offered = [command[1] for command in defaults["crm_mail_template_ids"]]
        self.assertIn(self.follow_up.id, offered)
        values = {
            name: defaults[name]
            for name in spec
            if name not in ("attachment_ids", "crm_mail_template_ids")
        }
        values["crm_mail_account_id"] = self.account.id
        values["crm_mail_parent_email_id"] = original.id
        values["crm_mail_template_id"] = self.follow_up.id
        changed = Composer.onchange(values, ["crm_mail_template_id"], spec)["value"]
        self.assertNotIn("subject", changed, "the reply keeps its subject")
        self.assertIn("Hello Carla Buyer,", changed["body"])
        self.assertIn("The original text.", changed["body"])
        self.assertIn("brochure.pdf", str(changed["attachment_ids"]))

        composer = Composer.create(
            {
                **values,
                "body": changed["body"],
                "attachment_ids": [(6, 0, self.follow_up.attachment_ids.ids)],
            }
        )
        message = self.send(composer)[0]
        files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
        self.assertEqual(files, {"brochure.pdf": b"%PDF-1.4 brochure"})
        self.assertEqual(message["Subject"], "Re: Brochure please")

    def test_template_of_the_email_answered(self):
        template = self.env["mail.template"].create(
            {
                "name": "Email: forward to legal",
                "model_id": self.env["ir.model"]._get_id("crm.mail.email"),
                "subject": "Ignored in a forward",
                "body_html": "<p>Please look at <t t-out='object.subject'/>.</p>",
            }
        )
        original = self.receive("Contract terms")
        composer = self.reply_composer(original, "forward")
        self.assertIn(template, composer.crm_mail_template_ids)
        self.apply(composer, template)
        self.assertEqual(composer.subject, "Fwd: Contract terms")
        composer.crm_mail_email_to = "legal@ourcompany.example"
        html = self.html(self.send(composer)[0])
        self.assertIn("Please look at Contract terms.", html)
        self.assertIn("Forwarded message", html)

    def test_template_that_does_not_fit_is_refused(self):
        composer = self.new_email(crm_mail_email_to="carl@customer.example")
        with self.assertRaisesRegex(UserError, "does not fit"):
            self.apply(composer, self.follow_up)
        with self.assertRaisesRegex(UserError, "does not fit"):
            self.apply(composer, self.admins_own)

    # ------------------------------------------------------------------
    # Signatures
    # ------------------------------------------------------------------

    def group_mailbox(self, **vals):
        team = self.env["crm.team"].create(
            {"name": "Support", "member_ids": [(6, 0, self.member.ids)]}
        )
        login, password = self.new_mailbox("support")
        group_smtp = self.smtp.copy({"name": "group sink", "from_filter": False})
        return self.create_account(
            login,
            password,
            name="Support Team",
            is_shared=True,
            send_permission="team",
            team_ids=[(6, 0, team.ids)],
            smtp_server_id=group_smtp.id,
            signature="<p>The Support Team, +1 555 0100</p>",
            **vals,
        )

    def send_from(self, account, subject, user=None):
        composer = self.new_email(
            user=user or self.member,
            crm_mail_account_id=account.id,
            crm_mail_email_to="carl@customer.example",
            subject=subject,
            body="<p>Hello Carl.</p>",
        )
        return self.html(self.send(composer)[0])

    def test_group_mailbox_signs_with_its_own_signature(self):
        support = self.group_mailbox()
        self.assertEqual(support.signature_mode, "mailbox")
        html = self.send_from(support, "Mailbox signed")
        self.assertIn("The Support Team, +1 555 0100", html)
        self.assertNotIn("Mia Member, Support", html, "not the sender's own")

        support.signature_mode = "both"
        html = self.send_from(support, "Both signed")
        self.assertIn("Mia Member, Support", html)
        self.assertIn("The Support Team, +1 555 0100", html)
        self.assertLess(html.index("Mia Member"), html.index("The Support Team"))

        support.signature_mode = "user"
        html = self.send_from(support, "Sender signed")
        self.assertIn("Mia Member, Support", html)
        self.assertNotIn("The Support Team, +1 555 0100", html)

        # Without a mailbox signature, the sender's own.
        support.write({"signature_mode": "mailbox", "signature": False})
        self.assertIn("Mia Member, Support", self.send_from(support, "Fallback"))

    def test_personal_mailbox_signs_with_the_users_signature(self):
        # A signature set on a personal account (through RPC) is not used.
        self.account.sudo().write({"signature": "<p>Not mine</p>", "signature_mode": "mailbox"})
        html = self.send_from(self.account, "Personal", user=self.mail_user)
        self.assertIn("Uma User, Sales", html)
        self.assertNotIn("Not mine", html)
