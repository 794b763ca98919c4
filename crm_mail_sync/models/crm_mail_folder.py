# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
from datetime import datetime
from datetime import time as dt_time

from odoo import api, fields, models

from ..lib import actions
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
    _parent_name = "parent_id"

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
    delimiter = fields.Char(
        readonly=True,
        help="The character that separates the levels of the server's folder names "
        "(/ or .), as the server lists it.",
    )
    parent_id = fields.Many2one(
        "crm.mail.folder",
        string="Parent Folder",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The folder this one sits in on the server (INBOX/Projects holds "
        "INBOX/Projects/Acme); set when the folders are listed.",
    )
    child_ids = fields.One2many("crm.mail.folder", "parent_id", string="Subfolders")
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
    is_complete_archive = fields.Boolean(
        string="Complete Archive",
        compute="_compute_is_complete_archive",
        help="Gmail's All Mail: every message of the mailbox, each once, whatever its labels.",
    )
    sync_hint = fields.Char(string="Note", compute="_compute_is_complete_archive")

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
        unread = self.env["crm.mail.email"]._panel_counts("folder_ids", self.ids)
        for folder in self:
            if unread.get(folder.id):
                folder.display_name = f"{folder.display_name} ({unread[folder.id]})"

    @api.depends("special_use", "account_id.gmail_extension")
    def _compute_is_complete_archive(self):
        for folder in self:
            # The \All folder of a server that names each message once (Gmail): on
            # others, a virtual \All folder would download again what other folders did.
            folder.is_complete_archive = bool(
                folder.account_id.gmail_extension and (folder.special_use or "").lower() == "\\all"
            )
            folder.sync_hint = folder.is_complete_archive and self.env._(
                "Complete archive: syncing this folder alone imports every message once."
            )

    def action_sync_alone(self):
        """Sync this folder only (Gmail's All Mail: the complete archive, each message
        once); the other folders of its account are unticked."""
        self.ensure_one()
        others = self.account_id.folder_ids - self
        others.filtered("is_synced").is_synced = False
        self.is_synced = True
        return actions.notification(
            self.env._(
                "Only %s is synced now: the next sync imports every message of the mailbox once.",
                self.display_label or self.name,
            ),
            then=actions.SOFT_RELOAD,
        )

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
            items = self._fetch_items(session, chunk, self._fetch_since())
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

    def _fetch_items(self, session, ids, since=None):
        """Hook: the ``BatchItem`` of ``ids``, a batch of the folder's ``Scan``.

        A server that names each message the same in every folder (Gmail: INBOX, each
        label and All Mail show one message) is asked for those names first, without
        the bodies; the messages this account holds already are not downloaded again,
        they only gain this folder as a location. Any other server names nothing:
        every message is fetched, with the very commands of before.

        :param since: ``_fetch_since()``, read once per batch
        """
        identities = session.identify(ids)
        stored = self._emails_by_provider_id(
            {identity.provider_id for identity in identities.values()}
        )
        located = [
            self._prepare_located_item(id_, identity, stored[identity.provider_id])
            for id_, identity in identities.items()
            if identity.provider_id in stored
        ]
        if located:
            seen = {item.uid for item in located}
            ids = [id_ for id_ in ids if id_ not in seen]
        return [self._prepare_item(message, since) for message in session.fetch(ids)] + located

    def _emails_by_provider_id(self, provider_ids):
        """Map the provider's ids (Gmail's X-GM-MSGID) this account holds already to
        their emails' ids: one indexed query per batch."""
        if not provider_ids:
            return {}
        self.env["crm.mail.email.location"].flush_model(["account_id", "provider_id", "email_id"])
        self.env.cr.execute(
            """SELECT provider_id, email_id FROM crm_mail_email_location
                WHERE provider_id = ANY(%s) AND account_id = %s AND email_id IS NOT NULL""",
            (list(provider_ids), self.account_id.id),
        )
        return dict(self.env.cr.fetchall())

    def _prepare_located_item(self, uid, identity, email_id):
        """The ``BatchItem`` of a message stored already (by its provider's id): no
        body, only where it is (``lib.session.MessageIdentity``)."""
        return BatchItem(
            raw=b"",
            uid=uid,
            flags=identity.flags,
            provider_id=identity.provider_id,
            labels=identity.labels,
            known_email_id=email_id,
        )

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
            provider_id=message.provider_id,
            labels=message.labels,
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
