# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Files of any record the user can read, attached in the composer and read at the
real SMTP sink; a file the user may not read is refused, whatever route its id took."""

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .compose_common import ComposeCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestComposeAttachments(ComposeCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Attachment = cls.env["ir.attachment"]
        cls.lead = cls.env["crm.lead"].create({"name": "Big deal", "type": "opportunity"})
        cls.other_partner = cls.env["res.partner"].create({"name": "Dora Distributor"})
        cls.offer = Attachment.create(
            {
                "name": "offer-2026.pdf",
                "raw": b"%PDF-1.4 the offer",
                "mimetype": "application/pdf",
                "res_model": "crm.lead",
                "res_id": cls.lead.id,
            }
        )
        cls.price_list = Attachment.create(
            {
                "name": "price-list-2026.csv",
                "raw": b"item,price\nwidget,10\n",
                "mimetype": "text/csv",
                "res_model": "res.partner",
                "res_id": cls.other_partner.id,
            }
        )
        # A file of a record the user may not read: the administrator's draft.
        secret_draft = (
            cls.env["crm.mail.draft"].with_user(cls.mail_admin).create({"subject": "Secret"})
        )
        cls.secret = Attachment.create(
            {
                "name": "secret-2026.pdf",
                "raw": b"%PDF-1.4 secret",
                "res_model": "crm.mail.draft",
                "res_id": secret_draft.id,
            }
        )
        # ... and a file somebody else uploaded in their composer.
        cls.foreign_upload = Attachment.with_user(cls.member).create(
            {
                "name": "upload-2026.txt",
                "raw": b"member's upload",
                "res_model": "mail.compose.message",
                "res_id": 0,
            }
        )

    def offered(self, composer, name=None):
        """The files the composer's "Files From Other Records" offers, searched like
        the web client does (the field's domain, as the user)."""
        field = composer._fields["crm_mail_other_attachment_ids"]
        domain = safe_eval(
            field.domain,
            {
                "crm_mail_attach_model": composer.crm_mail_attach_model,
                "crm_mail_attach_res_id": composer.crm_mail_attach_res_id,
            },
        )
        if name:
            domain += [("name", "ilike", name)]
        return self.env["ir.attachment"].with_user(self.mail_user).search(domain)

    def test_attach_a_file_of_another_record(self):
        composer = self.new_email(
            crm_mail_email_to="carl@customer.example", subject="The offer", body="<p>Here.</p>"
        )
        # By file name, among every record the user can read.
        found = self.offered(composer, "2026")
        self.assertIn(self.offer, found)
        self.assertIn(self.price_list, found)
        self.assertNotIn(self.secret, found, "a record the user may not read")
        self.assertNotIn(self.foreign_upload, found, "someone else's upload")
        # By record.
        composer.crm_mail_attach_from = self.lead
        self.assertEqual(self.offered(composer), self.offer)

        composer.crm_mail_other_attachment_ids = self.offer
        received = self.send(composer)
        files = {part.get_filename(): part.get_content() for part in received[0].iter_attachments()}
        self.assertEqual(files, {"offer-2026.pdf": b"%PDF-1.4 the offer"})
        archived = self.Email.search([("subject", "=", "The offer")])
        self.assertEqual(archived.attachment_ids.mapped("name"), ["offer-2026.pdf"])
        self.assertEqual(
            (self.offer.res_model, self.offer.res_id),
            ("crm.lead", self.lead.id),
            "the lead keeps its file",
        )

    def test_draft_keeps_the_files_of_other_records(self):
        composer = self.new_email(
            crm_mail_email_to="carl@customer.example",
            subject="Prices",
            crm_mail_other_attachment_ids=[(6, 0, self.price_list.ids)],
        )
        composer.action_crm_mail_save_draft()
        draft = self.env["crm.mail.draft"].with_user(self.mail_user).search([])
        self.assertEqual(draft.record_attachment_ids, self.price_list)
        action = draft.action_open_composer()
        reopened = (
            self.env["mail.compose.message"]
            .with_user(self.mail_user)
            .with_context(**action["context"])
            .create({})
        )
        received = self.send(reopened)
        self.assertEqual(
            [part.get_filename() for part in received[0].iter_attachments()],
            ["price-list-2026.csv"],
        )

    def test_unreadable_file_is_refused(self):
        """The ids written straight into the wizard's fields, as an RPC call can: the
        server refuses to send what the user may not read."""
        for field in (
            "crm_mail_other_attachment_ids",
            "crm_mail_record_attachment_ids",
            "attachment_ids",
        ):
            for refused in (self.secret, self.foreign_upload):
                with self.subTest(field=field, file=refused.name):
                    composer = self.new_email(
                        crm_mail_email_to="carl@customer.example", subject="Exfiltration"
                    )
                    composer.write({field: [(6, 0, (self.offer | refused).ids)]})
                    with self.assertRaisesRegex(
                        AccessError, rf"You may not send these files.*file ids: {refused.id}\)"
                    ):
                        self.send(composer)
                    self.assertFalse(self.sink.messages)
        self.assertFalse(self.Email.search([("subject", "=", "Exfiltration")]))
