# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Read and starred state and the server's flags (\\Seen, \\Flagged).

One way, always: mail the server had marked \\Seen (\\Flagged) arrives read (starred)
for the owner of a personal mailbox, and for nobody else; a group mailbox's mail
arrives unread for everyone (``crm.mail.gateway``).

Two ways, when the owner turns ``sync_flags`` on (personal IMAP mailboxes only): the
owner's changes in Odoo wait in a queue on the emails' locations and are written at
the next sync, one ``UID STORE`` per folder and flag; the changes made on the server
(another mail client) are read back at each sync, through CONDSTORE where the server
offers it, else by re-reading the flags of the folder's latest messages.
"""

from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import errors as mail_errors


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    sync_flags = fields.Boolean(
        string="Two-Way Read and Starred State",
        default=False,
        help="Reflect read and starred state on the server: what you read or star in "
        "Odoo is marked \\Seen or \\Flagged on the server at the next sync, and what "
        "another mail client marks there is read back. Personal IMAP mailboxes only: "
        "a group mailbox has one \\Seen per message, while each of its users keeps "
        "their own read state. Nothing is ever deleted or moved on the server.",
    )
    flags_warning = fields.Text(
        string="Two-Way Flags Warning",
        readonly=True,
        copy=False,
        help="Why the last sync could not write read or starred state to the server; "
        "the mailbox then works one way and the changes wait.",
    )

    @api.constrains("sync_flags", "account_type", "protocol")
    def _check_sync_flags(self):
        for account in self.filtered("sync_flags"):
            if account.account_type != "personal" or account.protocol != "imap":
                raise ValidationError(
                    self.env._(
                        "Two-way read and starred state is offered on personal IMAP "
                        "mailboxes only (%s): a group mailbox's server keeps one read "
                        "flag per message, while each user has their own read state.",
                        account.display_name,
                    )
                )

    def _flag_owner(self):
        """Hook: the user whose read and starred state the server's flags are (the
        owner of a personal mailbox); nobody for a group mailbox."""
        self.ensure_one()
        return self.user_id if self.account_type == "personal" else self.env["res.users"]

    def _flags_two_way(self, session):
        """Whether this sync writes and reads back the owner's flags on the server."""
        self.ensure_one()
        return bool(self.sync_flags and self._flag_owner() and session.can_store_flags)

    def _sync_folders(self, session, run):
        two_way = self._flags_two_way(session)
        if two_way:
            self._push_flag_changes(session, run)
        result = super()._sync_folders(session, run)
        if two_way and not run.out_of_time():
            self._pull_flag_changes(session, run)
        return result

    def _push_flag_changes(self, session, run):
        """Write the owner's queued read and starred changes to the server: one
        ``UID STORE`` per folder, flag and direction. A server that refuses leaves
        the changes queued and a warning on the account; the sync goes on."""
        self.ensure_one()
        pending = self.env["crm.mail.email.location"].search(
            [
                ("account_id", "=", self.id),
                ("uid", ">", 0),
                "|",
                ("pending_seen", "!=", False),
                ("pending_flagged", "!=", False),
            ]
        )
        if not pending:
            return
        refused = []
        for folder, locations in pending.grouped("folder_id").items():
            if not folder.exists_on_server:
                continue
            changes = defaultdict(list)
            for location in locations:
                for field_name, flag in location._PENDING_FLAGS.items():
                    if location[field_name]:
                        changes[(flag, location[field_name] == "add")].append(location.uid)
            try:
                stored = session.store_flags(folder.name, dict(changes), folder.uidvalidity)
            except mail_errors.FlagsRefused as exc:
                refused.append(str(exc))
                continue
            except mail_errors.FolderMissing:
                continue
            if stored:
                locations._flags_written()
        if refused:
            warning = self.env._(
                "The server did not accept read and starred state (%s). This mailbox "
                "works one way until it does: the changes made in Odoo wait and are "
                "written at a later sync.",
                "; ".join(refused),
            )
            self.flags_warning = warning
            run.warn(warning)
        elif self.flags_warning:
            self.flags_warning = False

    def _pull_flag_changes(self, session, run):
        """Read back the flags another mail client changed on the server."""
        self.ensure_one()
        owner = self._flag_owner()
        folders = self.folder_ids.filtered(
            lambda f: f.is_synced and f.exists_on_server and f.uidvalidity
        )
        for folder in folders:
            if run.out_of_time():
                return
            try:
                server_flags = folder._read_server_flags(session)
            except mail_errors.FolderMissing:
                continue
            folder._apply_server_flags(server_flags, owner)
