# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up: a real Dovecot on loopback, mailboxes, mail accounts and users."""

import ssl
import time
import uuid
from datetime import datetime, timedelta

from odoo.tests import TransactionCase, new_test_user

from . import mail_corpus
from .servers import SmtpSink, get_shared_dovecot


class CrmMailSyncCase(TransactionCase):
    """Base class of the add-on's tests that talk to the shared Dovecot instance."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = get_shared_dovecot()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.Account = cls.env["crm.mail.account"]
        cls.Email = cls.env["crm.mail.email"]
        # The Dovecot is on loopback, which the personal accounts of users who are not
        # administrators may only reach once it is an allowed mail host.
        cls.env["ir.config_parameter"].set_param(
            "crm_mail_sync.allowed_mail_hosts", cls.dovecot.host
        )
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

    def account_values(self, login, password, **vals):
        """The create values of a group account on the shared Dovecot."""
        values = {
            "name": login,
            "account_type": "group",
            "email": f"{login}@crm-mail-sync.test",
            "protocol": "imap",
            "host": self.dovecot.host,
            "security": "none",
            "login": login,
            "password": password,
            "timeout": 10,
        }
        values.update(vals)
        if "port" not in vals:
            values["port"] = (
                self.dovecot.imap_port if values["protocol"] == "imap" else self.dovecot.pop3_port
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

    def trusting_context(self):
        """An SSL context that trusts the test server's self-signed certificate."""
        context = ssl.create_default_context(cafile=self.dovecot.cert_file)
        return context
