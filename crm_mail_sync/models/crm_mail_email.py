# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
import logging
from datetime import timezone

from psycopg2 import Error as PsycopgError

from odoo import Command, api, fields, models

from ..lib.fingerprint import content_fingerprint, message_key
from ..lib.mime_parser import MessageParseError, normalize_address, parse_message

_logger = logging.getLogger(__name__)


def _clean(text):
    """PostgreSQL text cannot hold NUL characters; hostile mail may contain them."""
    return text.replace("\x00", "") if text else text


class CrmMailEmail(models.Model):
    _name = "crm.mail.email"
    _description = "Email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char(
        string="Message-ID",
        required=True,
        readonly=True,
        index=True,
        help="The Message-ID header, or a stable synthetic key for mail without one.",
    )
    fingerprint = fields.Char(
        required=True,
        readonly=True,
        help="Hash of the message's content. Two messages are the same email only when "
        "both the Message-ID and this fingerprint match, so a reused Message-ID "
        "never merges into somebody else's email.",
    )
    subject = fields.Char(readonly=True)
    email_from = fields.Char(string="From", readonly=True)
    from_address = fields.Char(
        string="Sender Address",
        readonly=True,
        index=True,
        help="The sender's address, normalised (lowercase).",
    )
    email_to = fields.Text(string="To", readonly=True)
    email_cc = fields.Text(string="Cc", readonly=True)
    reply_to = fields.Char(string="Reply-To", readonly=True)
    recipient_addresses = fields.Text(
        readonly=True,
        help="The normalised addresses of To and Cc, comma separated.",
    )
    date = fields.Datetime(readonly=True, index=True)
    in_reply_to = fields.Char(string="In-Reply-To", readonly=True, index=True)
    references = fields.Text(readonly=True)
    body_html = fields.Html(
        string="Body",
        readonly=True,
        sanitize_style=True,
        help="The HTML body, sanitised by Odoo's sanitizer.",
    )
    body_text = fields.Text(string="Text Body", readonly=True)
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing")],
        required=True,
        default="incoming",
        readonly=True,
        help="Outgoing: found in a Sent folder, or sent from the account's own address.",
    )
    import_mode = fields.Selection(
        [("archive", "Archive"), ("live", "Live")],
        required=True,
        default="live",
        readonly=True,
        help="Archive: the server had this mail before the account went live; it was "
        "stored and linked without notifications, auto-replies or case assignment.",
    )
    is_auto_submitted = fields.Boolean(
        readonly=True, help="An automatic message (auto-reply, bulk or list mail)."
    )
    size = fields.Integer(string="Size (bytes)", readonly=True)
    parse_warnings = fields.Text(
        readonly=True, help="Problems found in the message and how they were handled."
    )
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        domain=[("res_model", "=", "crm.mail.email")],
        string="Attachments",
        readonly=True,
    )
    has_attachments = fields.Boolean(readonly=True, index=True)
    location_ids = fields.One2many(
        "crm.mail.email.location", "email_id", string="Seen In", readonly=True
    )
    account_ids = fields.Many2many(
        "crm.mail.account",
        "crm_mail_email_account_rel",
        "email_id",
        "account_id",
        string="Accounts",
        compute="_compute_account_ids",
        store=True,
    )

    _sql_constraints = [
        (
            "message_fingerprint_unique",
            "UNIQUE(message_id, fingerprint)",
            "This email is already stored.",
        ),
    ]

    @api.depends("location_ids.account_id")
    def _compute_account_ids(self):
        for email in self:
            email.account_ids = email.location_ids.account_id

    # ------------------------------------------------------------------
    # Import
    # ------------------------------------------------------------------

    @api.model
    def _import_messages(self, folder, items):
        """Store a batch of raw messages fetched from ``folder``.

        Each message is stored once, whatever folder or account it comes from: an
        email already stored only gains a location. Messages that cannot be parsed or
        stored go to the quarantine with their raw bytes; the rest of the batch goes on.

        :param folder: ``crm.mail.folder`` record the batch comes from
        :param list items: dicts with ``raw`` (bytes) and ``uid`` (IMAP) or
            ``pop_uidl`` (POP3); optional ``internal_date``, ``flags``, ``since``
            (skip older mail) and ``quarantine`` (the entry being retried)
        :return: dict with ``imported`` (new locations recorded, i.e. emails imported
            for the account) and ``quarantined`` (messages put aside)
        """
        account = folder.account_id
        cap = max(account.max_attachment_size, 0) * 1024 * 1024
        prepared, failed, skipped = [], [], []
        for item in items:
            try:
                entry = self._parse_item(item, cap)
            except MessageParseError as exc:
                failed.append((item, str(exc)))
                continue
            if entry is None:
                skipped.append(item)
                continue
            prepared.append(entry)
        prepared = self._filter_known_locations(folder, prepared)
        try:
            with self.env.cr.savepoint():
                imported = self._store_batch(folder, prepared)
        except (PsycopgError, ValueError) as exc:
            # One bad message must not sink the batch: store them one by one so the
            # culprit alone goes to the quarantine.
            _logger.info("Batch from folder %s failed (%s); storing one by one", folder.id, exc)
            imported = 0
            for entry in prepared:
                try:
                    with self.env.cr.savepoint():
                        imported += self._store_batch(folder, [entry])
                except (PsycopgError, ValueError) as single_exc:
                    failed.append((entry["item"], self.env._("Could not store: %s", single_exc)))
        self._record_skipped(folder, skipped)
        self._quarantine(folder, failed)
        return {"imported": imported, "quarantined": len(failed)}

    @api.model
    def _parse_item(self, item, attachment_cap):
        """Parse one fetched message into the values ``_store_batch`` needs.

        :return: dict, or None when the message is deliberately not imported
        :raise MessageParseError: when the message cannot be understood at all
        """
        raw = item["raw"]
        if not raw:
            raise MessageParseError(self.env._("The server returned an empty message."))
        parsed = parse_message(raw, max_attachment_size=attachment_cap)
        received = item.get("internal_date") or parsed.date
        since = item.get("since")
        if since and received and received < since:
            return None
        fingerprint = content_fingerprint(raw)
        return {
            "item": item,
            "parsed": parsed,
            "fingerprint": fingerprint,
            "key": _clean(message_key(parsed.message_id, raw, fingerprint))[:998],
            "received": received,
        }

    @api.model
    def _filter_known_locations(self, folder, prepared):
        """Drop the messages whose location in this folder is already recorded."""
        uids = [entry["item"].get("uid") for entry in prepared if entry["item"].get("uid")]
        uidls = [
            entry["item"].get("pop_uidl") for entry in prepared if entry["item"].get("pop_uidl")
        ]
        if not uids and not uidls:
            return prepared
        self.env["crm.mail.email.location"].flush_model()
        self.env.cr.execute(
            """SELECT uid, pop_uidl FROM crm_mail_email_location
                WHERE folder_id = %s AND (uid = ANY(%s) OR pop_uidl = ANY(%s))""",
            (folder.id, uids, uidls),
        )
        known_uids, known_uidls = set(), set()
        for uid, uidl in self.env.cr.fetchall():
            known_uids.add(uid)
            known_uidls.add(uidl)
        return [
            entry
            for entry in prepared
            if entry["item"].get("uid") not in known_uids
            and entry["item"].get("pop_uidl") not in known_uidls
        ]

    @api.model
    def _store_batch(self, folder, prepared):
        """Create the new emails and the locations of a batch, in bulk."""
        if not prepared:
            return 0
        existing = self._find_existing(prepared)
        to_create, new_keys, pending = [], [], set()
        for entry in prepared:
            ident = (entry["key"], entry["fingerprint"])
            if ident in existing or ident in pending:
                continue
            pending.add(ident)
            new_keys.append(ident)
            to_create.append(self._prepare_email_values(folder, entry))
        new_emails = self.create(to_create) if to_create else self.browse()
        existing.update(zip(new_keys, new_emails.ids, strict=True))
        location_vals = [
            self._prepare_location_values(
                folder, entry, existing[(entry["key"], entry["fingerprint"])]
            )
            for entry in prepared
        ]
        locations = self.env["crm.mail.email.location"].create(location_vals)
        for entry in prepared:
            if entry["item"].get("quarantine"):
                entry["item"]["quarantine"].write(
                    {
                        "state": "imported",
                        "email_id": existing[(entry["key"], entry["fingerprint"])],
                    }
                )
        self._post_import(new_emails, locations)
        return len(locations)

    @api.model
    def _find_existing(self, prepared):
        """Map (key, fingerprint) to the ids of emails already stored, in one query."""
        self.flush_model(["message_id", "fingerprint"])
        self.env.cr.execute(
            "SELECT message_id, fingerprint, id FROM crm_mail_email WHERE message_id = ANY(%s)",
            ([entry["key"] for entry in prepared],),
        )
        return {(key, fp): email_id for key, fp, email_id in self.env.cr.fetchall()}

    @api.model
    def _prepare_email_values(self, folder, entry):
        """Hook: return the ``create`` values of a new email."""
        parsed = entry["parsed"]
        account = folder.account_id
        received = entry["received"]
        date = parsed.date or received or fields.Datetime.now()
        return {
            "message_id": entry["key"],
            "fingerprint": entry["fingerprint"],
            "subject": _clean(parsed.subject),
            "email_from": _clean(parsed.email_from),
            "from_address": _clean(parsed.from_address),
            "email_to": _clean(parsed.email_to),
            "email_cc": _clean(parsed.email_cc),
            "reply_to": _clean(parsed.reply_to),
            "recipient_addresses": _clean(",".join(parsed.to_addresses + parsed.cc_addresses)),
            "date": date,
            "in_reply_to": _clean(parsed.in_reply_to)[:998] or False,
            "references": _clean(" ".join(parsed.references)) or False,
            "body_html": _clean(parsed.body_html),
            "body_text": _clean(parsed.body_text),
            "direction": self._get_direction(folder, parsed),
            "import_mode": self._get_import_mode(account, received or date),
            "is_auto_submitted": parsed.is_auto_submitted,
            "size": parsed.size,
            "parse_warnings": _clean("\n".join(parsed.warnings)) or False,
            "has_attachments": any(not att.inline for att in parsed.attachments),
            "attachment_ids": [
                Command.create(self._prepare_attachment_values(attachment))
                for attachment in parsed.attachments
                if not attachment.truncated
            ],
        }

    @api.model
    def _prepare_attachment_values(self, attachment):
        return {
            "name": _clean(attachment.name) or self.env._("attachment"),
            "raw": attachment.content,
            "mimetype": attachment.mimetype,
            "res_model": self._name,
        }

    @api.model
    def _get_direction(self, folder, parsed):
        """Hook: Sent-folder mail and mail from the account's own address is outgoing."""
        own = normalize_address(folder.account_id.email or "")
        if folder.is_sent or (own and parsed.from_address == own):
            return "outgoing"
        return "incoming"

    @api.model
    def _get_import_mode(self, account, received):
        """Hook: mail the server had before the account went live is archive mail."""
        live_since = account.live_since
        if not live_since or not received:
            return "live"
        if received.tzinfo:
            received = received.astimezone(timezone.utc).replace(tzinfo=None)
        return "archive" if received < live_since else "live"

    @api.model
    def _prepare_location_values(self, folder, entry, email_id):
        item = entry["item"]
        return {
            "email_id": email_id,
            "account_id": folder.account_id.id,
            "folder_id": folder.id,
            "uid": item.get("uid") or False,
            "pop_uidl": item.get("pop_uidl") or False,
            "server_flags": " ".join(item.get("flags") or ()) or False,
        }

    @api.model
    def _post_import(self, new_emails, locations):
        """Hook called once per batch after storing: link, notify, create cases.

        :param new_emails: the emails created by this batch
        :param locations: every location recorded by this batch (new and known emails)
        """
        return True

    @api.model
    def _record_skipped(self, folder, items):
        """Remember deliberately skipped messages so they are not fetched again."""
        vals = [
            {
                "account_id": folder.account_id.id,
                "folder_id": folder.id,
                "uid": item.get("uid") or False,
                "pop_uidl": item.get("pop_uidl") or False,
                "skip_reason": self.env._("Older than the account's fetch-since date"),
            }
            for item in items
            if item.get("pop_uidl")  # IMAP remembers them through last_uid
        ]
        if vals:
            self.env["crm.mail.email.location"].create(vals)

    @api.model
    def _quarantine(self, folder, failures):
        """Keep messages that could not be imported, raw, for an administrator."""
        if not failures:
            return
        Quarantine = self.env["crm.mail.quarantine"]
        vals, retried = [], Quarantine
        for item, error in failures:
            _logger.warning(
                "Mail account %s, folder %s: message %s quarantined: %s",
                folder.account_id.id,
                folder.id,
                item.get("uid") or item.get("pop_uidl"),
                error,
            )
            if item.get("quarantine"):
                item["quarantine"].error = error
                retried |= item["quarantine"]
                continue
            raw = item.get("raw") or b""
            vals.append(
                {
                    "account_id": folder.account_id.id,
                    "folder_id": folder.id,
                    "uid": item.get("uid") or False,
                    "pop_uidl": item.get("pop_uidl") or False,
                    "error": error,
                    "raw_message": base64.b64encode(raw),
                    "raw_size": len(raw),
                }
            )
        # sudo: the quarantine is an administrators' model; any user syncing their
        # own mailbox must still be able to put a message aside.
        Quarantine.sudo().create(vals)
