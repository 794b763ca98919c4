# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the tests.

``CrmMailUnitCase`` needs no mail server: users, and mail imported straight through
the import chain (``crm.mail.gateway``) into a folder of an account that is never
connected; use it to test an override of a step, a linkable model or a filter action.
``CrmMailSyncCase`` adds a real Dovecot on loopback, mailboxes on it and an SMTP sink.
"""

import ssl
import time
import uuid
from datetime import datetime, timedelta

from odoo.tests import TransactionCase, new_test_user

from odoo.addons.crm_mail_sync.lib.batch import BatchItem

from . import mail_corpus
from .servers import get_shared_dovecot
from .smtp_sink import SmtpSink


class CrmMailUnitCase(TransactionCase):
    """Base class of the tests that need no mail server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.Account = cls.env["crm.mail.account"]
        cls.Email = cls.env["crm.mail.email"]
        cls.Gateway = cls.env["crm.mail.gateway"]
        cls.mail_admin = new_test_user(
            cls.env,
            login="crm_mail_admin",
            email="crm.mail.admin@example.com",
            groups="base.group_user,crm_mail_sync.group_crm_mail_manager",
        )
        cls.mail_user = new_test_user(
            cls.env,
            login="crm_mail_user",
            email="crm.mail.user@example.com",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user,crm_mail_sync.group_crm_mail_personal",
        )

    # ------------------------------------------------------------------
    # Mail imported without a server
    # ------------------------------------------------------------------

    @classmethod
    def local_account(cls, name="local", **vals):
        """A group account whose server is never contacted, with an INBOX folder."""
        values = {
            "name": name,
            "account_type": "group",
            "email": f"{name}@crm-mail-sync.test",
            "protocol": "imap",
            "host": "imap.crm-mail-sync.test",
            "port": 143,
            "security": "none",
            "login": name,
            "password": "unused",
        }
        values.update(vals)
        account = cls.Account.with_user(cls.mail_admin).create(values).sudo()
        cls.local_folder(account, "INBOX")
        return account

    @classmethod
    def local_folder(cls, account, name, **vals):
        """The folder ``name`` of ``account`` (created if missing)."""
        folder = account.folder_ids.filtered(lambda f: f.name == name)
        if not folder:
            folder = cls.env["crm.mail.folder"].create(
                {"account_id": account.id, "name": name, **vals}
            )
        return folder

    def import_raw(self, folder, raws, first_uid=None):
        """Import raw messages into ``folder`` through the import chain, as a sync
        run would after fetching them; return the ``ImportBatch``."""
        if first_uid is None:
            first_uid = max(folder.location_ids.mapped("uid") or [0]) + 1
        items = [
            BatchItem(raw=raw if isinstance(raw, bytes) else raw.encode(), uid=first_uid + i)
            for i, raw in enumerate(raws)
        ]
        return self.Gateway._import_batch(folder, items)

    def emails_of(self, account):
        return self.Email.search([("account_ids", "in", account.ids)])

    @staticmethod
    def chatter_entries(record, email):
        """The entries of ``email`` in ``record``'s chatter (they hold no content)."""
        return record.message_ids.filtered(lambda message: message.crm_mail_email_id == email)

    @staticmethod
    def messages(count, seed=0, **kw):
        return mail_corpus.many_messages(count, seed=seed, **kw)

    @staticmethod
    def message(**kw):
        return mail_corpus.simple_message(**kw)

    @staticmethod
    def days_ago(days):
        return datetime.utcnow().replace(microsecond=0) - timedelta(days=days)


class CrmMailSyncCase(CrmMailUnitCase):
    """Base class of the tests that talk to the shared Dovecot instance."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = get_shared_dovecot()
        # The Dovecot is on loopback, which the personal accounts of users who are not
        # administrators may only reach once it is an allowed mail host.
        cls.env["ir.config_parameter"].set_param(
            "crm_mail_sync.allowed_mail_hosts", cls.dovecot.host
        )

    @classmethod
    def start_smtp_sink(cls):
        """A real SMTP sink for the class and an outgoing server pointing at it."""
        sink = SmtpSink().start()
        cls.addClassCleanup(sink.stop)
        server = cls.env["ir.mail_server"].create(
            {
                "name": "sink",
                "smtp_host": sink.host,
                "smtp_port": sink.port,
                "smtp_encryption": "none",
            }
        )
        return sink, server

    # ------------------------------------------------------------------
    # Mailboxes on the real server
    # ------------------------------------------------------------------

    @classmethod
    def new_mailbox(cls, prefix="box"):
        """Create a fresh Dovecot user; return (login, password)."""
        login = f"{prefix}-{uuid.uuid4().hex[:10]}"
        password = f"pw-{uuid.uuid4().hex[:12]}"
        cls.dovecot.add_user(login, password)
        return login, password

    @classmethod
    def account_values(cls, login, password, **vals):
        """The create values of a group account on the shared Dovecot."""
        values = {
            "name": login,
            "account_type": "group",
            "email": f"{login}@crm-mail-sync.test",
            "protocol": "imap",
            "host": cls.dovecot.host,
            "security": "none",
            "login": login,
            "password": password,
            "timeout": 10,
        }
        values.update(vals)
        if "port" not in vals:
            values["port"] = (
                cls.dovecot.imap_port if values["protocol"] == "imap" else cls.dovecot.pop3_port
            )
        return values

    def create_account(self, login, password, **vals):
        """A group account (as the Emails administrator) on the shared Dovecot."""
        values = self.account_values(login, password, **vals)
        return self.Account.with_user(self.mail_admin).create(values).sudo()

    def create_personal_account(self, user, login, password, **vals):
        """A personal account of ``user`` (its address is the user's) on the Dovecot."""
        values = {
            "name": f"{user.login}'s mailbox",
            "account_type": "personal",
            "user_id": user.id,
            "email": user.email,
            "host": self.dovecot.host,
            "port": self.dovecot.imap_port,
            "security": "none",
            "login": login,
            "password": password,
        }
        values.update(vals)
        return self.Account.with_user(user).create(values)

    def connect(self, account):
        """Press Test connection; return the account's folders by server name."""
        account.action_test_connection()
        return {folder.name: folder for folder in account.folder_ids}

    @staticmethod
    def sync(account, budget=60):
        """Sync like "Fetch now" (no commit); return the run's statistics."""
        return account._sync(deadline=time.monotonic() + budget, commit=False)

    def trusting_context(self):
        """An SSL context that trusts the test server's self-signed certificate."""
        context = ssl.create_default_context(cafile=self.dovecot.cert_file)
        return context


def admin_mailbox_with(env, prefix, message, live=False):
    """A personal mailbox of the administrator on the shared Dovecot, holding ``message``
    (raw) in INBOX, synced; for the browser tours, which log in as admin.

    :param bool live: the mailbox went live a day ago (the message is live mail)
    :return: the account
    """
    dovecot = get_shared_dovecot()
    login = f"{prefix}-{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    dovecot.add_user(login, password)
    admin = env.ref("base.user_admin")
    account = env["crm.mail.account"].create(
        {
            "name": "Admin's mailbox",
            "account_type": "personal",
            "user_id": admin.id,
            "email": admin.email,
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "none",
            "login": login,
            "password": password,
        }
    )
    account.action_test_connection()
    if live:
        account.live_since = datetime.now() - timedelta(days=1)
    dovecot.append(login, "INBOX", message)
    account._sync(deadline=time.monotonic() + 60, commit=False)
    return account
