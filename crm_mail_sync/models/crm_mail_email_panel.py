# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The inbox's folder tree: each mailbox, its folders nested as on the server, and the
user's own inbox folders ("My Folders"), with the current user's unread counts.

The search panel shows it as one category, ``panel_node``: a node is a string,
``account_<id>``, ``folder_<id>``, ``inbox`` (My Folders) or ``inbox_<id>``, and
searching ``panel_node = <node>`` gives that node's emails. Odoo's own panel ranges
need one relational field with a parent; a mailbox, its server folders and the CRM
inbox folders are three models, so ``search_panel_select_range`` builds the nodes.
"""

from collections import defaultdict

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..lib.folder_tree import relative_label, sort_key

PANEL_FIELD = "panel_node"


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    panel_node = fields.Selection(
        selection=[],
        string="Folder Tree",
        compute="_compute_panel_node",
        search="_search_panel_node",
        help="The inbox's folder tree: a mailbox, one of its folders, or one of your "
        "inbox folders.",
    )

    def _compute_panel_node(self):
        # Only searched: an email sits in several nodes at once.
        self.panel_node = False

    def _search_panel_node(self, operator, value):
        if operator != "=":
            raise NotImplementedError(operator)
        if value == "inbox":
            return [("inbox_folder_id", "in", self._my_inbox_folders().ids)]
        kind, _sep, ident = (value or "").rpartition("_")
        field_name = {
            "account": "account_ids",
            "folder": "folder_ids",
            "inbox": "inbox_folder_id",
        }.get(kind)
        if not field_name or not ident.isdigit():
            raise UserError(self.env._("Unknown folder in the folder tree: %s", value))
        return [(field_name, "in", [int(ident)])]

    @api.model
    def _my_inbox_folders(self):
        """The user's own and the shared inbox folders (an administrator may read
        everyone's, but the tree shows a user their own)."""
        return self.env["crm.mail.inbox.folder"].search(
            ["|", ("user_id", "=", False), ("user_id", "=", self.env.uid)]
        )

    @api.model
    def search_panel_select_range(self, field_name, **kwargs):
        if field_name == PANEL_FIELD:
            return {"parent_field": "parent_id", "values": self._panel_tree()}
        return super().search_panel_select_range(field_name, **kwargs)

    @api.model
    def _panel_domain(self, unread=False):
        """The emails the tree counts: readable (the caller's rules), not in the
        user's trash, and unread by the user when ``unread``."""
        domain = [("is_in_my_trash", "=", False)]
        if unread:
            domain.append(("is_read", "=", False))
        return domain

    @api.model
    def _panel_counts(self, field_name, ids, unread=True):
        """Emails per value of ``field_name`` among ``ids``: an email counts once
        per value, whatever the number of folders it sits in."""
        if not ids:
            return {}
        groups = self._read_group(
            self._panel_domain(unread) + [(field_name, "in", list(ids))],
            [field_name],
            ["__count"],
        )
        return {record.id: count for record, count in groups}

    @api.model
    def _panel_tree(self):
        """The nodes of the tree, in display order (parents before their children):
        dicts with id, display_name, parent_id, __count (the user's unread emails)."""
        if not self.has_access("read"):
            return []
        nodes = []
        if self.env["crm.mail.folder"].has_access("read"):
            nodes += self._panel_mailbox_nodes()
        if self.env["crm.mail.inbox.folder"].has_access("read"):
            nodes += self._panel_inbox_folder_nodes()
        return nodes

    @api.model
    def _panel_mailbox_nodes(self):
        """Each mailbox (root) and its folders, nested by the server's hierarchy."""
        # The folders the user may read (rules), of the mailboxes in use.
        folders = self.env["crm.mail.folder"].search([("account_id.active", "=", True)])
        # Only an unsynced folder needs mail to show (usually none: no query).
        holding = self._panel_counts(
            "folder_ids", folders.filtered(lambda f: not f.is_synced).ids, unread=False
        )
        unread = self._panel_counts("folder_ids", folders.ids)
        # A folder shows when it is synced or holds mail the user may read; its
        # ancestors show with it.
        shown = set()
        for folder in folders:
            if folder.is_synced or holding.get(folder.id):
                while folder and folder.id not in shown:
                    shown.add(folder.id)
                    folder = folder.parent_id
        folders = folders.filtered(lambda f: f.id in shown)
        # sudo: a reader of a folder may not be allowed to open its account (the
        # mailbox's name only labels the root).
        accounts = folders.sudo().account_id.sorted(lambda a: ((a.name or "").casefold(), a.id))
        account_unread = self._panel_counts("account_ids", accounts.ids)
        children = defaultdict(list)
        for folder in folders:
            parent = folder.parent_id
            key = f"folder_{parent.id}" if parent.id in shown else f"account_{folder.account_id.id}"
            children[key].append(folder)
        nodes = []

        def add(key):
            for folder in sorted(
                children[key],
                key=lambda f: sort_key(f.name, f.display_label, f.special_use, f.is_sent),
            ):
                parent = folder.parent_id if folder.parent_id.id in shown else None
                label = folder.display_label or folder.name
                if parent:
                    label = relative_label(
                        label, parent.display_label or parent.name, folder.delimiter
                    )
                node = f"folder_{folder.id}"
                nodes.append(
                    {
                        "id": node,
                        "display_name": label,
                        "parent_id": key,
                        "__count": unread.get(folder.id, 0),
                    }
                )
                add(node)

        for account in accounts:
            key = f"account_{account.id}"
            nodes.append(
                {
                    "id": key,
                    "display_name": account.name,
                    "parent_id": False,
                    "__count": account_unread.get(account.id, 0),
                    # The web client unfolds the roots (static/src/js/search_panel.js).
                    "crm_mail_unfold": True,
                }
            )
            add(key)
        return nodes

    @api.model
    def _panel_inbox_folder_nodes(self):
        """ "My Folders" (root) and the user's and shared inbox folders, where "Move to
        folder" and the filters file mail."""
        inbox_folders = self._my_inbox_folders()
        if not inbox_folders:
            return []
        unread = self._panel_counts("inbox_folder_id", inbox_folders.ids)
        nodes = [
            {
                "id": "inbox",
                "display_name": self.env._("My Folders"),
                "parent_id": False,
                "__count": sum(unread.values()),
                "crm_mail_unfold": True,
            }
        ]
        for folder in inbox_folders.sorted(lambda f: ((f.name or "").casefold(), f.id)):
            nodes.append(
                {
                    "id": f"inbox_{folder.id}",
                    "display_name": folder.name,
                    "parent_id": "inbox",
                    "__count": unread.get(folder.id, 0),
                }
            )
        return nodes

    # ------------------------------------------------------------------
    # Move to folder: the CRM inbox folders of the tree
    # ------------------------------------------------------------------

    def action_open_move_wizard(self):
        """Button: file these emails in one of the user's or the shared inbox folders."""
        if not self:
            raise UserError(self.env._("Select the emails to move."))
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Move to Folder"),
            "res_model": "crm.mail.move.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_email_ids": [Command.set(self.ids)]},
        }

    def action_move_to_inbox_folder(self, folder):
        """File these emails in the inbox folder ``folder`` (a ``crm.mail.inbox.folder``;
        empty takes them out of their folder). They stay in their server folders: the
        tree shows them under the mailbox and under the inbox folder."""
        self.check_access("read")
        folder = folder.with_env(self.env)
        if folder:
            folder.check_access("read")
            if folder.user_id and folder.user_id != self.env.user:
                raise UserError(
                    self.env._(
                        "%(folder)s is another user's folder: move emails to your own "
                        "folders or to shared ones.",
                        folder=folder.name,
                    )
                )
        # sudo: filing is open to every reader of the email, like the trash; readers
        # do not write emails otherwise.
        self.sudo().write({"inbox_folder_id": folder.id or False})
        return True
