# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.5.0: the inbox's folder tree nests folders by the server's delimiter, which
the next folder listing (Test connection) records. Until then, guess it from the names
already known: a folder whose name extends another folder's of the same mailbox by
``/`` or ``.`` sits in that folder."""

from collections import defaultdict

from odoo.addons.crm_mail_sync.lib.folder_tree import parent_names


def migrate(cr, version):
    cr.execute(
        "SELECT id, account_id, name FROM crm_mail_folder WHERE parent_id IS NULL "
        "AND delimiter IS NULL"
    )
    by_account = defaultdict(dict)
    for folder_id, account_id, name in cr.fetchall():
        by_account[account_id][name] = folder_id
    for folders in by_account.values():
        for delimiter in ("/", "."):
            parents = parent_names((name, delimiter) for name in folders)
            for name, parent in parents.items():
                if parent:
                    cr.execute(
                        "UPDATE crm_mail_folder SET parent_id = %s, delimiter = %s "
                        "WHERE id = %s AND parent_id IS NULL",
                        (folders[parent], delimiter, folders[name]),
                    )
