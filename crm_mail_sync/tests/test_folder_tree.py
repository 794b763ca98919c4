# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The inbox's folder tree: mailboxes with their folders nested as on the server (both
delimiters), special-use folders first, the current user's unread counts per folder and
per mailbox, and "My Folders", where Move to folder and the filters file mail."""

import importlib.util
import time
import uuid
from pathlib import Path

from odoo.exceptions import UserError
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.crm_mail_sync.lib.folder_tree import parent_names, relative_label

from . import mail_corpus
from .common import CrmMailSyncCase, admin_mailbox_with
from .servers import DovecotServer, get_shared_dovecot


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFolderTree(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.readers = [
            new_test_user(
                cls.env,
                login=f"tree_reader_{i}",
                email=f"tree.reader.{i}@example.com",
                groups="base.group_user,crm_mail_sync.group_crm_mail_all",
            )
            for i in (1, 2)
        ]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def mailbox_with_tree(self, dovecot, sep):
        """A group account on ``dovecot`` whose server holds nested folders (created
        over IMAP, delimiter ``sep``), every folder synced; return (account, login)."""
        login = f"tree-{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        dovecot.add_user(login, password)
        for name in (
            f"INBOX{sep}Projects",
            f"INBOX{sep}Projects{sep}Acme",
            "Zeta",
            "alpha",
            "Clients",
            f"Clients{sep}Beta",
        ):
            dovecot.create_folder(login, name)
        account = self.Account.with_user(self.mail_admin).create(
            self.account_values(login, password, port=dovecot.imap_port)
        )
        self.connect(account)
        account.sudo().folder_ids.is_synced = True
        return account.sudo(), login

    def panel(self, user):
        """The tree's nodes as ``user`` gets them, by id."""
        values = (
            self.Email.with_user(user).search_panel_select_range("panel_node", enable_counters=True)
        )["values"]
        return {value["id"]: value for value in values}

    def found(self, user, node):
        """The emails the panel shows ``user`` for ``node`` (the web client's domain)."""
        return self.Email.with_user(user).search(
            [("panel_node", "=", node), ("is_in_my_trash", "=", False)]
        )

    @staticmethod
    def children(panel, parent):
        return [node["display_name"] for node in panel.values() if node["parent_id"] == parent]

    def folder(self, account, name):
        return account.folder_ids.filtered(lambda f: f.name == name)

    # ------------------------------------------------------------------
    # Hierarchy
    # ------------------------------------------------------------------

    def check_hierarchy(self, dovecot, sep):
        account, login = self.mailbox_with_tree(dovecot, sep)
        acme = self.folder(account, f"INBOX{sep}Projects{sep}Acme")
        projects = self.folder(account, f"INBOX{sep}Projects")
        inbox = self.folder(account, "INBOX")
        self.assertEqual(acme.delimiter, sep)
        self.assertEqual(acme.parent_id, projects)
        self.assertEqual(projects.parent_id, inbox)
        self.assertFalse(inbox.parent_id)
        self.assertEqual(self.folder(account, f"Clients{sep}Beta").parent_id.name, "Clients")
        dovecot.append(login, f"INBOX{sep}Projects{sep}Acme", self.message(subject="Acme plan"))
        dovecot.append(login, "INBOX", self.message(subject="In the inbox"))
        self.sync(account)
        panel = self.panel(self.readers[0])
        root = f"account_{account.id}"
        self.assertEqual(panel[root]["parent_id"], False)
        self.assertEqual(panel[f"folder_{inbox.id}"]["parent_id"], root)
        self.assertEqual(panel[f"folder_{projects.id}"]["parent_id"], f"folder_{inbox.id}")
        self.assertEqual(panel[f"folder_{acme.id}"]["parent_id"], f"folder_{projects.id}")
        self.assertEqual(self.children(panel, f"folder_{inbox.id}"), ["Projects"])
        self.assertEqual(self.children(panel, f"folder_{projects.id}"), ["Acme"])
        # A folder shows its own mail (not its subfolders'), the mailbox all of it.
        reader = self.readers[0]
        self.assertEqual(self.found(reader, f"folder_{inbox.id}").subject, "In the inbox")
        self.assertEqual(self.found(reader, f"folder_{acme.id}").subject, "Acme plan")
        self.assertEqual(len(self.found(reader, root)), 2)
        # Renamed on the server: the next listing moves it in the tree.
        dovecot.rename_folder(login, f"Clients{sep}Beta", f"Zeta{sep}Beta")
        self.connect(account)
        self.assertEqual(self.folder(account, f"Zeta{sep}Beta").parent_id.name, "Zeta")
        return account

    def test_hierarchy_with_slash_delimiter(self):
        self.check_hierarchy(self.dovecot, "/")

    def test_hierarchy_with_dot_delimiter(self):
        dovecot = DovecotServer(separator=".").start()
        self.addCleanup(dovecot.stop)
        self.check_hierarchy(dovecot, ".")

    def test_tree_helpers(self):
        parents = parent_names(
            [("INBOX", "."), ("INBOX.a.b", "."), ("Inbox.x", "."), ("top", None), ("p/q", "/")]
        )
        # A level the server does not list is skipped; INBOX is case-insensitive.
        self.assertEqual(parents["INBOX.a.b"], "INBOX")
        self.assertEqual(parents["Inbox.x"], "INBOX")
        self.assertIsNone(parents["top"])
        self.assertIsNone(parents["p/q"])
        self.assertEqual(relative_label("INBOX.a.b", "INBOX", "."), "a.b")
        self.assertEqual(relative_label("Projects/Acme", "Projects", "/"), "Acme")

    def test_existing_folders_are_nested_on_update(self):
        account = self.local_account("tree-migration")
        for name in ("Projects", "Projects/Acme", "Lists", "Lists.Odoo"):
            self.local_folder(account, name)
        path = Path(__file__).parents[1] / "migrations/18.0.1.5.0/post-migrate_tree.py"
        spec = importlib.util.spec_from_file_location("post_migrate_tree", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.env.flush_all()
        module.migrate(self.env.cr, "18.0.1.4.0")
        self.env.invalidate_all()
        parents = {folder.name: folder.parent_id.name for folder in account.folder_ids}
        self.assertEqual(
            parents,
            {
                "INBOX": False,
                "Projects": False,
                "Projects/Acme": "Projects",
                "Lists": False,
                "Lists.Odoo": "Lists",
            },
        )

    def test_special_use_folders_first(self):
        account, _login = self.mailbox_with_tree(self.dovecot, "/")
        panel = self.panel(self.readers[0])
        self.assertEqual(
            self.children(panel, f"account_{account.id}"),
            ["INBOX", "Sent", "Drafts", "Archive", "Junk", "Trash", "alpha", "Clients", "Zeta"],
        )
        # Unsynced folders without mail stay out of the tree.
        self.folder(account, "Zeta").is_synced = False
        panel = self.panel(self.readers[0])
        self.assertNotIn("Zeta", self.children(panel, f"account_{account.id}"))

    # ------------------------------------------------------------------
    # Unread counts
    # ------------------------------------------------------------------

    def test_unread_counts_per_user(self):
        account, login = self.mailbox_with_tree(self.dovecot, "/")
        both = self.message(subject="In two folders", to=self.mail_user.email)
        self.dovecot.append(login, "INBOX", both)
        self.dovecot.append(login, "INBOX/Projects", both)
        self.dovecot.append(login, "INBOX", self.message(subject="Inbox only"))
        self.dovecot.append(login, "INBOX/Projects", self.message(subject="Projects only"))
        self.sync(account)
        inbox = f"folder_{self.folder(account, 'INBOX').id}"
        projects = f"folder_{self.folder(account, 'INBOX/Projects').id}"
        root = f"account_{account.id}"

        def counts(user):
            panel = self.panel(user)
            return [panel.get(node, {}).get("__count", 0) for node in (root, inbox, projects)]

        first, second = self.readers
        # The mailbox counts the email held in two folders once.
        self.assertEqual(counts(first), [3, 2, 2])
        email = self.Email.search([("subject", "=", "In two folders")])
        email.with_user(first).action_mark_read()
        self.assertEqual(counts(first), [2, 1, 1])
        # Read state is per user.
        self.assertEqual(counts(second), [3, 2, 2])
        self.Email.search([("subject", "=", "Projects only")]).with_user(
            second
        ).action_move_to_trash()
        self.assertEqual(counts(second), [2, 2, 1])
        # A user who may read only their own mail counts only it (the email addressed
        # to them); the folders are those of a group mailbox, readable by all users.
        self.assertEqual(counts(self.mail_user), [1, 1, 1])
        self.assertEqual(self.found(self.mail_user, root), email)
        email.with_user(self.mail_user).action_mark_read()
        self.assertEqual(counts(self.mail_user), [0, 0, 0])

    # ------------------------------------------------------------------
    # My Folders: where Move to folder and the filters file mail
    # ------------------------------------------------------------------

    def test_moved_mail_is_found_in_its_inbox_folder(self):
        account, login = self.mailbox_with_tree(self.dovecot, "/")
        user = self.readers[0]
        InboxFolder = self.env["crm.mail.inbox.folder"]
        mine = InboxFolder.with_user(user).create({"name": "Deals"})
        shared = InboxFolder.create({"name": "Newsletters", "user_id": False})
        theirs = InboxFolder.with_user(self.readers[1]).create({"name": "Private"})
        self.env["crm.mail.filter"].with_user(self.mail_admin).create(
            {
                "name": "newsletters",
                "scope": "account",
                "account_id": account.id,
                "action": "move",
                "folder_id": shared.id,
                "from_pattern": "*@news.example",
            }
        )
        self.dovecot.append(login, "INBOX", self.message(subject="Big deal"))
        self.dovecot.append(
            login, "INBOX", self.message(subject="Weekly news", sender="letter@news.example")
        )
        self.sync(account)
        deal = self.Email.search([("subject", "=", "Big deal")])
        news = self.Email.search([("subject", "=", "Weekly news")])
        # By the action (the wizard of the list and the form).
        action = deal.with_user(user).action_open_move_wizard()
        wizard = (
            self.env[action["res_model"]]
            .with_user(user)
            .with_context(**action["context"])
            .create({"folder_id": mine.id})
        )
        wizard.action_move()
        self.assertEqual(deal.inbox_folder_id, mine)
        self.assertEqual(self.found(user, f"inbox_{mine.id}"), deal)
        # By the filter.
        self.assertEqual(self.found(user, f"inbox_{shared.id}"), news)
        self.assertEqual(self.found(user, "inbox"), deal | news)
        panel = self.panel(user)
        self.assertEqual(self.children(panel, "inbox"), ["Deals", "Newsletters"])
        self.assertEqual(panel["inbox"]["__count"], 2)
        self.assertEqual(panel[f"inbox_{mine.id}"]["__count"], 1)
        # Moved mail stays in its server folder too.
        inbox = self.folder(account, "INBOX")
        self.assertEqual(self.found(user, f"folder_{inbox.id}"), deal | news)
        deal.with_user(user).action_mark_read()
        self.assertEqual(self.panel(user)[f"inbox_{mine.id}"]["__count"], 0)
        # Another user sees the shared folder, not the private ones.
        other = self.panel(self.readers[1])
        self.assertEqual(self.children(other, "inbox"), ["Newsletters", "Private"])
        self.assertNotIn(f"inbox_{mine.id}", other)
        with self.assertRaises(UserError):
            news.with_user(user).action_move_to_inbox_folder(theirs.sudo())
        # Out of the folder again.
        deal.with_user(user).action_move_to_inbox_folder(InboxFolder)
        self.assertFalse(self.found(user, f"inbox_{mine.id}"))
        with self.assertRaises(UserError):
            self.found(user, "nonsense")


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestFolderTreeTour(HttpCase):
    """Headless Chromium through the folder tree."""

    def test_folder_tree_tour(self):
        admin = self.env.ref("base.user_admin")
        account = admin_mailbox_with(
            self.env,
            "treetour",
            mail_corpus.simple_message(subject="Tree inbox hello", to=admin.email),
        )
        account.name = "Tree mailbox"
        dovecot = get_shared_dovecot()
        dovecot.create_folder(account.login, "INBOX/Projects")
        dovecot.append(
            account.login,
            "INBOX/Projects",
            mail_corpus.simple_message(subject="Tree project news", to=admin.email),
        )
        account.action_test_connection()
        account.folder_ids.is_synced = True
        account._sync(deadline=time.monotonic() + 60, commit=False)
        deals = self.env["crm.mail.inbox.folder"].create(
            {"name": "Tree deals", "user_id": admin.id}
        )
        project = self.env["crm.mail.email"].search([("subject", "=", "Tree project news")])
        project.with_user(admin).action_move_to_inbox_folder(deals)

        self.start_tour(
            "/odoo/action-crm_mail_sync.crm_mail_email_action",
            "crm_mail_sync_folder_tree_tour",
            login="admin",
            timeout=120,
        )
