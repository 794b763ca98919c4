# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Odoo's compose wizard, able to send an email from a CRM mail account.

With a "Send From" account the wizard sends one ordinary email (To/Cc/Bcc, the
signature the account gives, attachments, optional read receipt) through that account's SMTP
server, files a copy in its Sent folder over IMAP, archives it as an outgoing
``crm.mail.email`` and links it to the records it concerns. Without one, the wizard
is Odoo's own (a message posted on the record's chatter).
"""

import logging
import re
import smtplib
from email.utils import formataddr, getaddresses, make_msgid

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..lib import actions
from ..lib.addresses import normalize_address
from ..lib.batch import BatchItem

_logger = logging.getLogger(__name__)

# A header value with a line break could add headers of its own.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    crm_mail_account_id = fields.Many2one(
        "crm.mail.account",
        string="Send From",
        domain=lambda self: [
            ("id", "in", self.env["crm.mail.account"]._get_sendable_accounts().ids)
        ],
        help="Send an ordinary email from this mailbox (its address, its outgoing "
        "server, a copy in its Sent folder). Leave empty to post on the record's "
        "chatter the usual Odoo way.",
    )
    crm_mail_email_to = fields.Char(
        string="To (Addresses)",
        help="More recipients by address, separated by commas.",
    )
    crm_mail_email_cc = fields.Char(string="Cc")
    crm_mail_email_bcc = fields.Char(string="Bcc")
    crm_mail_read_receipt = fields.Boolean(
        string="Request Read Receipt",
        help="Ask the recipient's mail program to confirm that the email was read "
        "(Disposition-Notification-To).",
    )
    crm_mail_private = fields.Boolean(
        string="Private",
        help="Store the sent email as private: only you and administrators see its content.",
    )
    crm_mail_record_attachment_ids = fields.Many2many(
        "ir.attachment",
        "crm_mail_compose_record_attachment_rel",
        "wizard_id",
        "attachment_id",
        string="Attachments From the Record",
        domain="[('id', 'in', crm_mail_available_attachment_ids)]",
        help="Files already attached to the record, sent along.",
    )
    crm_mail_available_attachment_ids = fields.Many2many(
        "ir.attachment", compute="_compute_crm_mail_available_attachment_ids"
    )
    crm_mail_draft_id = fields.Many2one("crm.mail.draft", string="Draft", ondelete="set null")
    crm_mail_parent_email_id = fields.Many2one(
        "crm.mail.email", string="Answering", ondelete="set null"
    )
    crm_mail_reply_mode = fields.Selection(
        [("reply", "Reply"), ("reply_all", "Reply All"), ("forward", "Forward")]
    )

    @api.model
    def default_get(self, fields_list):
        result = super().default_get(fields_list)
        if (
            self.env.context.get("crm_mail_compose")
            and "crm_mail_account_id" in fields_list
            and not result.get("crm_mail_account_id")
        ):
            result["crm_mail_account_id"] = self._crm_mail_default_account().id
        return result

    @api.model
    def _crm_mail_default_account(self):
        """Hook: the account a new email is sent from: the user's own, else the first
        group mailbox they may use."""
        sendable = self.env["crm.mail.account"]._get_sendable_accounts()
        own = sendable._is_owned_by(self.env.user)
        return (own or sendable)[:1]

    @api.depends("model", "res_ids")
    def _compute_crm_mail_available_attachment_ids(self):
        for wizard in self:
            res_ids = wizard._evaluate_res_ids() if wizard.model else []
            if not res_ids or wizard.model not in self.env:
                wizard.crm_mail_available_attachment_ids = False
                continue
            wizard.crm_mail_available_attachment_ids = self.env["ir.attachment"].search(
                [("res_model", "=", wizard.model), ("res_id", "in", res_ids)]
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_send_mail(self):
        crm_wizards = self.filtered("crm_mail_account_id")
        for wizard in crm_wizards:
            failure = wizard._crm_mail_send()
            if failure:
                return failure
        if self - crm_wizards:
            return super(MailComposeMessage, self - crm_wizards).action_send_mail()
        return actions.CLOSE_DIALOG

    def action_crm_mail_save_draft(self):
        """Button: keep the email as a draft, to finish and send later."""
        self.ensure_one()
        draft = self._crm_mail_save_draft()
        return actions.notification(
            self.env._(
                "Draft saved: find it under Emails > Drafts (%s).",
                draft.subject or self.env._("no subject"),
            ),
            then=actions.CLOSE_DIALOG,
        )

    # ------------------------------------------------------------------
    # Sending from a mail account
    # ------------------------------------------------------------------

    def _crm_mail_send(self):
        """Send this wizard's email from its account.

        :return: None when sent; when the SMTP server fails, a notification action
            (the email is kept as a draft, nothing typed is lost)
        """
        self.ensure_one()
        self._crm_mail_check()
        account = self._crm_mail_account()
        message = self._crm_mail_build_message()
        raw = message.as_bytes()  # before sending: the SMTP layer drops the Bcc header
        try:
            with self.env.cr.savepoint():
                # sudo: the archive is the system's record of what the user sent;
                # users read it through the 'sent by' rule, never write it.
                email = (
                    self.env["crm.mail.gateway"]
                    .sudo()
                    ._archive_sent(account, raw, self._crm_mail_archive_values())
                )
                self._crm_mail_deliver(message)
        except (MailDeliveryException, smtplib.SMTPException, OSError, UserError) as exc:
            return self._crm_mail_send_failed(exc)
        self._crm_mail_after_send(email.with_env(self.env), raw)
        return None

    def _crm_mail_account(self):
        # sudo: a shared mailbox may be used by users who cannot read its settings;
        # _crm_mail_check has verified that this user may send from it.
        return self.crm_mail_account_id.sudo()

    def _crm_mail_check(self):
        """Refuse what cannot be sent, with a message saying why."""
        account = self._crm_mail_account()
        if not account._can_send(self.env.user):
            raise AccessError(self.env._("You may not send email from %s.", account.display_name))
        # The files and the email answered are read as superuser below: the user must be
        # allowed to read them (an email's files follow the email's own rules).
        self._crm_mail_check_attachments()
        self.crm_mail_parent_email_id.check_access("read")
        if not (self.subject or "").strip():
            raise UserError(self.env._("Write a subject before sending."))
        to, cc, _bcc = self._crm_mail_recipients()
        if not to + cc:
            raise UserError(self.env._("Add at least one recipient (To or Cc)."))

    def _crm_mail_recipients(self):
        """``(to, cc, bcc)``: lists of formatted, validated addresses."""
        self.ensure_one()
        to = [
            formataddr((partner.name or "", partner.email_normalized))
            for partner in self.partner_ids
            if partner.email_normalized
        ]
        missing = self.partner_ids.filtered(lambda p: not p.email_normalized)
        if missing:
            raise UserError(
                self.env._(
                    "These contacts have no valid email address: %s",
                    ", ".join(missing.mapped("display_name")),
                )
            )
        result = [to, [], []]
        for index, text in enumerate(
            (self.crm_mail_email_to, self.crm_mail_email_cc, self.crm_mail_email_bcc)
        ):
            result[index] += self._crm_mail_parse_addresses(text)
        return tuple(result)

    def _crm_mail_parse_addresses(self, text):
        if not text:
            return []
        if _LINE_BREAKS.search(text):
            raise UserError(self.env._("An address may not contain a line break: %s", text))
        addresses = []
        for name, address in getaddresses([text]):
            if not address and not name:
                continue
            normalized = email_normalize(address, strict=True)
            if not normalized:
                raise UserError(self.env._("Not a valid email address: %s", address or name))
            addresses.append(formataddr((name, normalized)))
        return addresses

    def _crm_mail_subject(self):
        # Line breaks in a subject would start new headers.
        return _LINE_BREAKS.sub(" ", self.subject or "").strip()

    def _crm_mail_body(self):
        """The HTML body, signed when asked with the signature of the account (the
        user's own, the group mailbox's or both: ``crm.mail.account._get_signature``)."""
        body = self.body or Markup("")
        signature = self._crm_mail_account()._get_signature(self.env.user)
        if self.email_add_signature and signature:
            body = Markup('%s<div class="o_signature"><p>-- </p>%s</div>') % (body, signature)
        return body

    def _crm_mail_headers(self):
        """Hook: the extra headers of the email (threading, read receipt)."""
        account = self._crm_mail_account()
        headers = {"X-Mailer": "Odoo CRM Mail Sync"}
        parent = self.crm_mail_parent_email_id
        if parent and self.crm_mail_reply_mode in ("reply", "reply_all"):
            if parent.message_id and "@" in parent.message_id:
                headers["In-Reply-To"] = parent.message_id
        if self.crm_mail_read_receipt:
            headers["Disposition-Notification-To"] = account.email
        return headers

    def _crm_mail_references(self):
        parent = self.crm_mail_parent_email_id
        if not parent or self.crm_mail_reply_mode not in ("reply", "reply_all"):
            return None
        ids = (parent.references or "").split() + [parent.message_id]
        return " ".join(ref for ref in ids if ref and "@" in ref) or None

    def _crm_mail_all_attachments(self):
        """Hook: every file to send (``ir.attachment``)."""
        return self.attachment_ids | self.crm_mail_record_attachment_ids

    def _crm_mail_check_attachments(self):
        """Refuse files the user may not read. Any ids can come in through RPC, and
        ``check_access`` of ``ir.attachment`` does not look at the record a file
        belongs to: ``check`` does (the record's read access; a file of no record,
        only its uploader)."""
        files = self._crm_mail_all_attachments()
        try:
            files.check("read")
        except AccessError:
            # Only on refusal: say which files (Odoo's own per-file filter).
            refused = (files - files._filter_attachment_access(files.ids)).ids
            raise AccessError(
                self.env._(
                    "You may not send these files: you cannot read them, or the records "
                    "they belong to (file ids: %s). Remove them and try again.",
                    ", ".join(map(str, refused)),
                )
            ) from None

    def _crm_mail_attachments(self):
        """``(name, bytes, mimetype)`` of every file to send."""
        # sudo: _crm_mail_check_attachments has verified that the user reads them all.
        return [
            (att.name, att.sudo().raw, att.mimetype) for att in self._crm_mail_all_attachments()
        ]

    def _crm_mail_build_message(self):
        """Build the email (multipart/alternative: plain text and HTML)."""
        account = self._crm_mail_account()
        to, cc, bcc = self._crm_mail_recipients()
        sender = account._get_sender_address(self.env.user)
        domain = account.email.rpartition("@")[2] or None
        record = self._crm_mail_record()
        # Written from a record: answers to it join that record (a token Message-ID).
        message_id = (
            self.env["crm.mail.linking"]._token_message_id_for(
                {"model": record._name, "res_id": record.id}, domain=domain
            )
            if record
            else None
        )
        # ... and so are answers to its Reply-To, the mailbox with a signed plus tag.
        reply_to = (
            self.env["crm.mail.linking"]
            .sudo()
            ._plus_reply_to(
                sender,
                record._name,
                record.id,
                mailboxes={normalize_address(account.email)},
            )
            if record
            else sender
        )
        return self.env["ir.mail_server"].build_email(
            email_from=sender,
            email_to=to,
            subject=self._crm_mail_subject(),
            body=self._crm_mail_body(),
            email_cc=cc,
            email_bcc=bcc,
            reply_to=reply_to,
            attachments=self._crm_mail_attachments(),
            message_id=message_id or make_msgid(domain=domain),
            references=self._crm_mail_references(),
            subtype="html",
            headers=self._crm_mail_headers(),
        )

    def _crm_mail_deliver(self, message):
        """Hand the email to the account's SMTP server."""
        server = self._crm_mail_account()._get_outgoing_server()
        self.env["ir.mail_server"].sudo().send_email(message, mail_server_id=server.id or None)

    def _crm_mail_archive_values(self):
        return {
            "sent_by_user_id": self.env.user.id,
            # What you sent yourself is read for you (as in any mail client), and for
            # nobody else.
            "read_by_user_ids": [Command.link(self.env.user.id)],
            "is_private": self.crm_mail_private,
            "request_read_receipt": self.crm_mail_read_receipt,
        }

    def _crm_mail_after_send(self, email, raw):
        """File the copy in the Sent folder, link the email, drop the draft."""
        account = self._crm_mail_account()
        # sudo: the archive is written by the system on the user's behalf.
        Gateway = self.env["crm.mail.gateway"].sudo()
        email = email.sudo()
        if account._can_file_sent_copy():
            try:
                folder, uid = account._append_to_sent(raw)
            except UserError as exc:
                # The email is sent: a missing copy is worth a note, not a failure.
                _logger.info("Sent email %s not filed in Sent: %s", email.id, exc)
                email.parse_warnings = "\n".join(
                    filter(None, [email.parse_warnings, self.env._("Not filed in Sent: %s", exc)])
                )
            else:
                if uid:
                    self.env["crm.mail.email.location"].sudo().create(
                        Gateway._prepare_location_values(
                            folder, BatchItem(raw=raw, uid=uid, flags=("\\Seen",)), email.id
                        )
                    )
        if not email.no_link:
            record = self._crm_mail_record()
            extra = {email.id: {(record._name, record.id): "composed"}} if record else None
            self.env["crm.mail.linking"].sudo()._link_emails(email, extra_targets=extra)
        if self.crm_mail_draft_id:
            self.crm_mail_draft_id.unlink()

    def _crm_mail_record(self):
        """The linkable record the email was written from, if any."""
        if self.model not in self.env["crm.mail.linking"]._get_linkable_models():
            return None
        res_ids = self._evaluate_res_ids()
        return self.env[self.model].browse(res_ids[:1]).exists() or None

    def _crm_mail_send_failed(self, exc):
        """Keep everything typed as a draft and tell the user what went wrong."""
        if isinstance(exc, MailDeliveryException) and len(exc.args) > 1:
            error = str(exc.args[1])
        else:
            error = str(exc) or exc.__class__.__name__
        message = self.env._(
            "The email was not sent: %(error)s It is kept in your drafts.", error=error.strip()
        )
        _logger.info("Sending from account %s failed: %s", self.crm_mail_account_id.id, error)
        draft = self._crm_mail_save_draft(error=message)
        return actions.notification(
            message,
            kind="danger",
            title=self.env._("Email not sent"),
            sticky=True,
            then=draft.action_open_composer(),
        )

    def _crm_mail_save_draft(self, error=False):
        """Create or update this wizard's draft."""
        self.ensure_one()
        res_ids = self._evaluate_res_ids() if self.model else []
        # Files uploaded in the wizard belong to it and are purged after a day:
        # the draft takes them over. sudo: only the user's own uploads are moved.
        uploads = self.attachment_ids.sudo().filtered(
            lambda a: a.res_model == self._name and a.create_uid == self.env.user
        )
        vals = {
            "account_id": self.crm_mail_account_id.id,
            "subject": self.subject,
            "body": self.body,
            "partner_ids": [Command.set(self.partner_ids.ids)],
            "email_to": self.crm_mail_email_to,
            "email_cc": self.crm_mail_email_cc,
            "email_bcc": self.crm_mail_email_bcc,
            "attachment_ids": [Command.set(self.attachment_ids.ids)],
            "record_attachment_ids": [Command.set(self.crm_mail_record_attachment_ids.ids)],
            "model": self.model or False,
            "res_id": res_ids[0] if len(res_ids) == 1 else False,
            "parent_email_id": self.crm_mail_parent_email_id.id,
            "reply_mode": self.crm_mail_reply_mode,
            "request_read_receipt": self.crm_mail_read_receipt,
            "is_private": self.crm_mail_private,
            "add_signature": self.email_add_signature,
            "last_error": error,
        }
        draft = self.crm_mail_draft_id
        if draft:
            draft.write(vals)
        else:
            draft = self.env["crm.mail.draft"].create(vals)
            self.crm_mail_draft_id = draft
        uploads.write({"res_model": draft._name, "res_id": draft.id})
        return draft
