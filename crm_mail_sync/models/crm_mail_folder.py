# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
from datetime import datetime
from datetime import time as dt_time

from odoo import api, fields, models

from ..lib import errors as mail_errors
from ..lib.batch import BatchItem
from ..lib.session import FolderCursor

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
    # Sync: one loop, whatever the protocol
    # ------------------------------------------------------------------

    def _sync(self, session, run):
        """Import the new messages of this folder, batch by batch, in ``run``.

        The session says what is new since the folder's cursor (a folder with nothing
        new costs one IMAP STATUS command); each batch goes through the import chain
        and its progress is committed with it, by the run.
        """
        self.ensure_one()
        try:
            scan = session.scan(self._cursor())
        except mail_errors.FolderMissing:
            self.write({"exists_on_server": False})
            run.warn(self.env._("Folder %s no longer exists on the server.", self.display_label))
            return
        self._apply_scan(scan)
        batch_size = self.account_id.batch_size or 200
        for start in range(0, len(scan.ids), batch_size):
            if run.out_of_time():
                run.incomplete()
                return
            chunk = scan.ids[start : start + batch_size]
            since = self._fetch_since()
            items = [self._prepare_item(message, since) for message in session.fetch(chunk)]
            batch = run.import_batch(self, items)
            # Progress travels in the same transaction as the batch it describes.
            self._advance(scan, chunk, batch)
            run.commit_progress()
        self._finish_scan(scan)

    def _cursor(self):
        """Hook: where this folder's import stands, for the session's scan."""
        self.ensure_one()
        return FolderCursor(
            name=self.name,
            uidvalidity=self.uidvalidity,
            last_uid=self.last_uid,
            since=self.account_id.fetch_since or None,
            known=self._known_uidls,
        )

    def _known_uidls(self):
        """The POP3 unique ids this folder has seen (imported, skipped, quarantined)."""
        known = set(
            self.env["crm.mail.email.location"]
            .search([("folder_id", "=", self.id)])
            .mapped("pop_uidl")
        )
        known |= set(
            self.env["crm.mail.quarantine"].search([("folder_id", "=", self.id)]).mapped("pop_uidl")
        )
        return known

    def _apply_scan(self, scan):
        """Record what the server said of the folder; a renumbered folder is rescanned."""
        if scan.uidvalidity is not None:
            if self.uidvalidity and scan.uidvalidity != self.uidvalidity:
                self._reset_uidvalidity(scan.uidvalidity)
            elif not self.uidvalidity:
                self.uidvalidity = scan.uidvalidity
        self.server_message_count = scan.messages

    def _fetch_since(self):
        """The moment before which mail is skipped, or None (the account's setting)."""
        since = self.account_id.fetch_since
        return datetime.combine(since, dt_time.min) if since else None

    def _prepare_item(self, message, since=None):
        """The ``BatchItem`` of a fetched message (``lib.session.FetchedMessage``).

        :param since: ``_fetch_since()``, read once per batch
        """
        return BatchItem(
            raw=message.raw,
            uid=message.uid,
            pop_uidl=message.pop_uidl,
            internal_date=message.internal_date,
            flags=message.flags,
            # Protocols that cannot search by date leave it to the import.
            since=since if message.pop_uidl else None,
        )

    def _advance(self, scan, chunk, batch):
        """Move the cursor past an imported batch (committed with it by the run)."""
        if scan.uidnext is not None:
            self.last_uid = max(chunk)

    def _finish_scan(self, scan):
        """The folder is synced to its end."""
        if scan.uidnext is not None and scan.uidnext - 1 > self.last_uid:
            # UIDs below the fetch-since date were skipped on purpose: do not search
            # them again next time.
            self.last_uid = scan.uidnext - 1
        self.last_sync_at = fields.Datetime.now()

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
