# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import time
from datetime import datetime
from datetime import time as dt_time

from odoo import api, fields, models

from ..lib import errors as mail_errors

_logger = logging.getLogger(__name__)


class BigInteger(fields.Integer):
    """An Integer stored as int8: IMAP UIDs and UIDVALIDITY are unsigned 32-bit."""

    column_type = ("int8", "int8")


class CrmMailFolder(models.Model):
    _name = "crm.mail.folder"
    _description = "Mail Account Folder"
    _order = "account_id, is_synced desc, name"
    _rec_name = "display_label"

    account_id = fields.Many2one("crm.mail.account", required=True, ondelete="cascade", index=True)
    name = fields.Char(
        string="Server Name",
        required=True,
        help="The folder's name as the server knows it.",
    )
    display_label = fields.Char(string="Folder", help="The folder's name as shown to users.")
    is_synced = fields.Boolean(
        string="Sync",
        default=False,
        help="Import the mail of this folder. INBOX and the Sent folder are ticked "
        "when the folders are first listed.",
    )
    special_use = fields.Char(
        readonly=True, help="The role the server gives this folder (\\Sent, \\Trash...)."
    )
    is_sent = fields.Boolean(
        string="Sent Folder",
        help="Mail in this folder is stored as outgoing.",
    )
    selectable = fields.Boolean(default=True, readonly=True)
    exists_on_server = fields.Boolean(
        default=True,
        readonly=True,
        help="Unticked when the last folder listing did not contain this folder.",
    )
    uidvalidity = BigInteger(
        string="UIDVALIDITY",
        readonly=True,
        copy=False,
        help="The server's UIDVALIDITY for this folder; when it changes, the folder "
        "is scanned again (without creating duplicates).",
    )
    last_uid = BigInteger(
        string="Last UID",
        readonly=True,
        copy=False,
        help="Highest UID imported; the next sync asks only for newer messages.",
    )
    server_message_count = fields.Integer(string="Messages on Server", readonly=True)
    last_sync_at = fields.Datetime(string="Last Sync", readonly=True)
    location_ids = fields.One2many("crm.mail.email.location", "folder_id")
    email_count = fields.Integer(compute="_compute_email_count", string="Emails")

    _sql_constraints = [
        (
            "name_account_unique",
            "UNIQUE(account_id, name)",
            "A folder appears once per account.",
        ),
    ]

    @api.depends("display_label", "name", "account_id.name")
    @api.depends_context("crm_mail_unread_counts", "crm_mail_folder_panel", "uid")
    def _compute_display_name(self):
        in_panel = self.env.context.get("crm_mail_folder_panel")
        for folder in self:
            label = folder.display_label or folder.name
            # Outside the inbox's search panel (which lists folders under their
            # mailbox) "INBOX" alone is ambiguous. sudo: a reader of a folder may
            # group by it without being allowed to open its account.
            mailbox = folder.account_id.sudo().name
            folder.display_name = label if in_panel else f"{mailbox} / {label}"
        if (
            not in_panel
            or not self.env.context.get("crm_mail_unread_counts")
            or not self.ids
            or not self.env["crm.mail.email"].has_access("read")
        ):
            return
        # The inbox's folder list shows how many emails the user has not read yet.
        groups = self.env["crm.mail.email"]._read_group(
            [
                ("folder_ids", "in", self.ids),
                ("is_read", "=", False),
                ("is_in_my_trash", "=", False),
            ],
            ["folder_ids"],
            ["__count"],
        )
        unread = {folder.id: count for folder, count in groups}
        for folder in self:
            if unread.get(folder.id):
                folder.display_name = f"{folder.display_name} ({unread[folder.id]})"

    @api.depends("location_ids")
    def _compute_email_count(self):
        groups = self.env["crm.mail.email.location"]._read_group(
            [("folder_id", "in", self.ids)], ["folder_id"], ["__count"]
        )
        counts = {folder.id: count for folder, count in groups}
        for folder in self:
            folder.email_count = counts.get(folder.id, 0)

    # ------------------------------------------------------------------
    # IMAP
    # ------------------------------------------------------------------

    def _sync_imap(self, session, deadline, result):
        """Import the new messages of this folder, batch by batch.

        A folder with nothing new costs one STATUS command.
        """
        self.ensure_one()
        try:
            status = session.status(self.name)
        except mail_errors.FolderMissing:
            self.write({"exists_on_server": False})
            result["warnings"].append(
                self.env._("Folder %s no longer exists on the server.", self.display_label)
            )
            return
        if self.uidvalidity and status.uidvalidity != self.uidvalidity:
            self._reset_uidvalidity(status.uidvalidity)
        elif not self.uidvalidity:
            self.uidvalidity = status.uidvalidity
        self.server_message_count = status.messages
        if status.uidnext - 1 <= self.last_uid:
            self.last_sync_at = fields.Datetime.now()
            return
        session.select(self.name)
        since = self.account_id.fetch_since
        uids = session.search_uids(min_uid=self.last_uid + 1, since=since)
        batch_size = self.account_id.batch_size or 200
        for start in range(0, len(uids), batch_size):
            if time.monotonic() >= deadline:
                result["complete"] = False
                return
            chunk = uids[start : start + batch_size]
            messages = list(session.fetch(chunk))
            imported = self._import_batch(
                [self._prepare_fetched(message) for message in messages], result
            )
            # Progress travels in the same transaction as the batch it describes.
            self.last_uid = max(chunk)
            self.account_id.email_count += imported
            if not self.account_id._commit_progress():
                result["complete"] = False
                return
        # UIDs below the fetch-since date were skipped on purpose: do not search
        # them again next time.
        if status.uidnext - 1 > self.last_uid:
            self.last_uid = status.uidnext - 1
        self.last_sync_at = fields.Datetime.now()

    def _import_batch(self, items, result):
        """Store one batch and account for it in the run's ``result``."""
        outcome = self.env["crm.mail.email"]._import_messages(self, items)
        result["imported"] += outcome["imported"]
        self.account_id._notify_import_progress(self.account_id.email_count + outcome["imported"])
        if outcome["quarantined"]:
            result["warnings"].append(
                self.env._(
                    "%(count)s message(s) of folder %(folder)s could not be imported "
                    "and were put in the quarantine.",
                    count=outcome["quarantined"],
                    folder=self.display_label,
                )
            )
        return outcome["imported"]

    def _prepare_fetched(self, message):
        """Return the plain dict ``_import_messages`` expects for a fetched message."""
        return {
            "uid": message.uid,
            "raw": message.raw,
            "internal_date": message.internal_date,
            "flags": message.flags,
        }

    def _reset_uidvalidity(self, uidvalidity):
        """The server renumbered the folder: forget its UIDs and scan it again.

        Emails stay; the re-scan finds them by Message-ID and fingerprint and only
        records their new locations.
        """
        _logger.info(
            "Folder %s of account %s: UIDVALIDITY changed from %s to %s, rescanning",
            self.name,
            self.account_id.id,
            self.uidvalidity,
            uidvalidity,
        )
        self.location_ids.unlink()
        self.write({"uidvalidity": uidvalidity, "last_uid": 0})

    # ------------------------------------------------------------------
    # POP3
    # ------------------------------------------------------------------

    def _sync_pop3(self, session, deadline, result):
        """Import the messages whose UIDL this folder has not seen yet.

        POP3 cannot ask for "newer" mail: the server's UIDL list is compared with the
        UIDLs already recorded, in one query.
        """
        self.ensure_one()
        listing = session.list_uidls()
        self.server_message_count = len(listing)
        known = set(
            self.env["crm.mail.email.location"]
            .search([("folder_id", "=", self.id)])
            .mapped("pop_uidl")
        )
        known |= set(
            self.env["crm.mail.quarantine"].search([("folder_id", "=", self.id)]).mapped("pop_uidl")
        )
        todo = [(num, uidl) for num, uidl in listing if uidl not in known]
        since = self.account_id.fetch_since
        since_dt = datetime.combine(since, dt_time.min) if since else None
        batch_size = self.account_id.batch_size or 200
        for start in range(0, len(todo), batch_size):
            if time.monotonic() >= deadline:
                result["complete"] = False
                return
            items = [
                {"pop_uidl": uidl, "raw": session.retrieve(num), "since": since_dt}
                for num, uidl in todo[start : start + batch_size]
            ]
            imported = self._import_batch(items, result)
            self.account_id.email_count += imported
            if not self.account_id._commit_progress():
                result["complete"] = False
                return
        self.last_sync_at = fields.Datetime.now()
