# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The plain-Python IMAP and POP3 sessions against the real Dovecot."""

import ssl
import time
import uuid

from odoo.tests import BaseCase, tagged

from odoo.addons.crm_mail_sync.lib import errors
from odoo.addons.crm_mail_sync.lib.imap_client import (
    FolderInfo,
    ImapSession,
    default_sync_folder_names,
    is_sent_folder,
    uid_set,
)
from odoo.addons.crm_mail_sync.lib.pop3_client import Pop3Session

from . import mail_corpus
from .cutting_proxy import CuttingProxy
from .servers import free_port, get_shared_dovecot


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMailServerSessions(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = get_shared_dovecot()

    def mailbox(self, count=0):
        login, password = f"lib-{uuid.uuid4().hex[:10]}", "secret-" + uuid.uuid4().hex[:8]
        self.dovecot.add_user(login, password)
        if count:
            self.dovecot.seed(login, mail_corpus.many_messages(count, seed=count))
        return login, password

    def imap(self, login, password, **kw):
        kw.setdefault("security", "none")
        kw.setdefault("port", self.dovecot.imap_port)
        return ImapSession(
            self.dovecot.host, kw.pop("port"), kw.pop("security"), login, password, **kw
        )

    def test_folders_status_fetch_without_side_effects(self):
        login, password = self.mailbox(12)
        before = self.dovecot.flags(login)
        with self.imap(login, password) as session:
            folders = session.list_folders()
            self.assertEqual(default_sync_folder_names(folders), {"INBOX", "Sent"})
            sent = [f for f in folders if f.raw_name == "Sent"][0]
            self.assertEqual(sent.special_use, "\\Sent")
            status = session.status("INBOX")
            self.assertEqual((status.messages, status.uidnext), (12, 13))
            self.assertEqual(session.select("INBOX").uidvalidity, status.uidvalidity)
            self.assertEqual(session.search_uids(min_uid=10), [10, 11, 12])
            self.assertEqual(session.search_uids(min_uid=13), [])
            fetched = list(session.fetch([1, 2, 3, 12]))
            self.assertEqual([m.uid for m in fetched], [1, 2, 3, 12])
            self.assertTrue(all(m.raw.startswith(b"From: ") for m in fetched))
            self.assertTrue(all(m.internal_date for m in fetched))
            self.assertEqual(fetched[0].size, len(fetched[0].raw))
        self.assertEqual(self.dovecot.flags(login), before)
        self.assertTrue(all("\\Seen" not in flags for flags in before.values()))

    def test_sent_folder_found_by_name_without_special_use(self):
        plain = [
            FolderInfo("INBOX", "INBOX", "/", (), None, True),
            FolderInfo("INBOX/Envoyés", "INBOX/Envoy&AOk-s", "/", (), None, True),
        ]
        self.assertEqual(default_sync_folder_names(plain), {"INBOX", "INBOX/Envoy&AOk-s"})
        self.assertTrue(is_sent_folder(plain[1]))
        self.assertFalse(is_sent_folder(plain[0]))
        self.assertEqual(uid_set([5, 1, 2, 3, 9, 10]), "1:3,5,9:10")

    def test_tls_modes_verify_certificates(self):
        login, password = self.mailbox(1)
        trusted = ssl.create_default_context(cafile=self.dovecot.cert_file)
        for security, port in (
            ("ssl", self.dovecot.imaps_port),
            ("starttls", self.dovecot.imap_port),
        ):
            with self.subTest(security=security):
                with self.imap(
                    login, password, security=security, port=port, ssl_context=trusted
                ) as session:
                    self.assertEqual(session.status("INBOX").messages, 1)
                with self.assertRaises(errors.TlsFailed):
                    self.imap(login, password, security=security, port=port).connect()
                with self.imap(
                    login, password, security=security, port=port, verify_tls=False
                ) as session:
                    self.assertEqual(session.status("INBOX").messages, 1)

    def test_login_refused_is_plain_and_secret_free(self):
        login, _password = self.mailbox()
        with self.assertRaises(errors.AuthenticationFailed) as caught:
            self.imap(login, "Not-The-Password-42").connect()
        self.assertIn("app password", str(caught.exception))
        self.assertNotIn("Not-The-Password-42", str(caught.exception))
        with self.assertRaises(errors.AuthenticationFailed):
            Pop3Session(self.dovecot.host, self.dovecot.pop3_port, "none", login, "nope").connect()

    def test_connection_refused(self):
        with self.assertRaises(errors.ConnectionFailed):
            self.imap("x", "y", port=free_port()).connect()

    def test_connection_cut_mid_fetch_raises_quickly(self):
        login, password = self.mailbox(20)
        with CuttingProxy(self.dovecot.host, self.dovecot.imap_port) as proxy:
            with self.imap(login, password, port=proxy.port, timeout=5) as session:
                session.select("INBOX")
                proxy.cut_after_bytes = proxy.bytes_down + 3000
                start = time.monotonic()
                with self.assertRaises(errors.MailServerError) as caught:
                    list(session.fetch(list(range(1, 21))))
                self.assertLess(time.monotonic() - start, 5)
                self.assertIn(caught.exception.kind, ("connection", "protocol"))
        self.assertEqual(proxy.cuts, 1)

    def test_slow_server_times_out(self):
        login, password = self.mailbox(1)
        with CuttingProxy(self.dovecot.host, self.dovecot.imap_port, delay=1.5) as proxy:
            start = time.monotonic()
            with self.assertRaises(errors.ServerTimeout):
                self.imap(login, password, port=proxy.port, timeout=0.5).connect()
            self.assertLess(time.monotonic() - start, 3)

    def test_pop3_reads_without_marking_or_deleting(self):
        login, password = self.mailbox(3)
        before = self.dovecot.flags(login)
        with Pop3Session(
            self.dovecot.host, self.dovecot.pop3_port, "none", login, password
        ) as session:
            uidls = session.list_uidls()
            self.assertEqual([num for num, _uidl in uidls], [1, 2, 3])
            self.assertEqual(len({uidl for _num, uidl in uidls}), 3)
            raw = session.retrieve(2)
            self.assertTrue(raw.startswith(b"From: "))
        self.assertEqual(self.dovecot.flags(login), before)
        with Pop3Session(
            self.dovecot.host, self.dovecot.pop3_port, "none", login, password
        ) as session:
            self.assertEqual(session.list_uidls(), uidls)
