# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Reaching a mailbox: its session (one interface for every protocol), the login hook
of each protocol, the addresses it may connect to, and its folders."""

from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError

from ..lib import actions
from ..lib import errors as mail_errors
from ..lib.folder_tree import parent_names
from ..lib.imap_client import ImapSession, default_sync_folder_names, is_sent_folder
from ..lib.network_policy import AddressPolicy
from ..lib.pop3_client import Pop3Session


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    # The session class of each protocol; a module adds one with a selection value
    # on ``protocol``, an entry here and a ``_<protocol>_login`` method.
    _session_classes = {"imap": ImapSession, "pop3": Pop3Session}

    def _session_class(self):
        """Hook: the ``lib.session.MailSession`` class of this account's protocol."""
        self.ensure_one()
        return self._session_classes[self.protocol]

    def _session(self):
        """Return an unopened session for this account (open it with ``_connect``)."""
        self.ensure_one()
        if not self.host:
            raise UserError(self.env._("Set the mail server of %s first.", self.display_name))
        return self._session_class()(
            self.host,
            self.port,
            self.security,
            self.login or self.email,
            # sudo: the sync runs as the caller, who may not be in the system group.
            self.sudo().password_secret or "",
            timeout=float(self.timeout or 30),
            verify_tls=self.verify_tls,
            ssl_context=self._get_ssl_context(),
            address_policy=self._get_address_policy(),
        )

    def _get_address_policy(self):
        """Hook: the ``AddressPolicy`` this account's connections obey; None for any address.

        A personal account of a user who is neither an Emails administrator nor a system
        administrator may not make the server connect to loopback, link-local or private
        addresses, unless an administrator allowed the host in Allowed Mail Hosts. The rule
        follows the account's owner, not the current user: the scheduled sync runs as the
        superuser for everyone's accounts.
        """
        self.ensure_one()
        if self.account_type == "group":
            return None
        # sudo: whoever runs the sync must learn the owner's groups.
        owner = self.user_id.sudo()
        if owner and (
            owner.has_group("crm_mail_sync.group_crm_mail_manager")
            or owner.has_group("base.group_system")
        ):
            return None
        # sudo: a system parameter, set by administrators, read for every user.
        allowed = (
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.allowed_mail_hosts", "")
        )
        return AddressPolicy.from_text(allowed)

    def _get_ssl_context(self):
        """Hook: return an ssl.SSLContext to use instead of the default one."""
        return None

    def _connect(self, session):
        """Open ``session`` and log in, with this protocol's login hook."""
        self.ensure_one()
        session.connect(authenticate=getattr(self, f"_{self.protocol}_login"))
        return session

    @contextmanager
    def _open_session(self):
        """A connected, logged-in session for the block, closed after it."""
        session = self._connect(self._session())
        try:
            yield session
        finally:
            session.close()

    def _imap_login(self, session):
        """Hook: authenticate an open IMAP session (default: login and password).

        Like Odoo's fetchmail ``_imap_login``: a module logging in otherwise (OAuth2's
        XOAUTH2) overrides it and talks to ``session.conn``.
        """
        session.login_password()

    def _pop3_login(self, session):
        """Hook: authenticate an open POP3 session (default: USER and PASS)."""
        session.login_password()

    def action_test_connection(self):
        """Log in, list the server's folders and store them on the account.

        New folders are ticked for sync when they are INBOX or the Sent folder.
        """
        self.ensure_one()
        try:
            with self._open_session() as session:
                folders = session.list_folders()
        except mail_errors.MailServerError as exc:
            raise UserError(self._format_server_error(exc)) from None
        self._update_folders(folders)
        self._mark_connected()
        names = ", ".join(
            folder.display_label or folder.name for folder in self.folder_ids.filtered("is_synced")
        )
        return actions.notification(
            self.env._(
                "%(count)s folders found; syncing: %(names)s.",
                count=len(self.folder_ids),
                names=names or self.env._("none"),
            ),
            title=self.env._("Connection successful"),
            then=actions.SOFT_RELOAD,
        )

    def _format_server_error(self, exc):
        """Return the message shown to the user for a mail server error."""
        return self.env._("%(account)s: %(error)s", account=self.display_name, error=str(exc))

    def _mark_connected(self):
        vals = {
            "state": "connected",
            "last_error": False,
            "failure_count": 0,
            "next_retry_at": False,
        }
        if not self.live_since:
            vals["live_since"] = self._initial_live_since()
        self.write(vals)

    def _initial_live_since(self):
        """The moment mail starts being live: now, minus the live window."""
        return fields.Datetime.now() - timedelta(hours=max(self.live_window_hours, 0))

    def _update_folders(self, folder_infos):
        """Create or refresh folder records from the server's folder list.

        :param folder_infos: list of ``lib.session.FolderInfo``, as the session lists them
        """
        self.ensure_one()
        Folder = self.env["crm.mail.folder"]
        existing = {
            folder.name: folder for folder in self.with_context(active_test=False).folder_ids
        }
        defaults = default_sync_folder_names(folder_infos)
        to_create = []
        seen = set()
        for info in folder_infos:
            seen.add(info.raw_name)
            vals = {
                "display_label": info.name,
                "special_use": info.special_use or False,
                "delimiter": info.delimiter or False,
                "is_sent": is_sent_folder(info),
                "selectable": info.selectable,
                "exists_on_server": True,
            }
            folder = existing.get(info.raw_name)
            if folder:
                folder.write(vals)
            else:
                to_create.append(
                    dict(
                        vals,
                        account_id=self.id,
                        name=info.raw_name,
                        is_synced=info.selectable
                        and (info.raw_name in defaults or info.name in defaults),
                    )
                )
        Folder.create(to_create)
        gone = Folder.browse([folder.id for name, folder in existing.items() if name not in seen])
        gone.write({"exists_on_server": False})
        self._update_folder_tree(folder_infos)

    def _update_folder_tree(self, folder_infos):
        """Set each listed folder's parent from the server's hierarchy (its delimiter).

        :param folder_infos: list of ``lib.session.FolderInfo``, as the session lists them
        """
        self.ensure_one()
        parents = parent_names((info.raw_name, info.delimiter) for info in folder_infos)
        by_name = {
            folder.name: folder for folder in self.with_context(active_test=False).folder_ids
        }
        children = defaultdict(list)
        for name, parent in parents.items():
            folder = by_name.get(name)
            parent_id = by_name[parent].id if parent in by_name else False
            if folder and folder.parent_id.id != parent_id:
                children[parent_id].append(folder.id)
        # One write per parent, not one per folder.
        for parent_id, folder_ids in children.items():
            self.env["crm.mail.folder"].browse(folder_ids).parent_id = parent_id
