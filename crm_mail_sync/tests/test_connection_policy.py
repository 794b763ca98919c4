# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Where a mail account may make the server connect, and what it may read back there.

Real sockets throughout: listeners on loopback stand for the services of the server's
own network (a database, SSH, a web server).
"""

import contextlib
import socket
import threading
import time

from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import config

from odoo.addons.crm_mail_sync.lib import errors
from odoo.addons.crm_mail_sync.lib.imap_client import ImapSession
from odoo.addons.crm_mail_sync.lib.network_policy import (
    AddressPolicy,
    invalid_entries,
    is_public,
)

from .common import CrmMailSyncCase
from .servers import LOOPBACK

ACCOUNT_LOGGER = "odoo.addons.crm_mail_sync.models.crm_mail_account"
POLICY_TEXT = "is on a private or local network"
PRIVATE_ADDRESS = "10.255.255.1"
BANNERS = {
    "ssh": b"SSH-2.0-OpenSSH_9.2p1 secret-banner-text\r\n",
    "http": b"HTTP/1.1 400 Bad Request\r\nServer: secret-web-server\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n<h1>secret-page</h1>\r\n",
}
BANNER_WORDS = ("secret", "SSH-2.0", "OpenSSH", "HTTP/1.1", "Bad Request")


class BannerServer:
    """A loopback TCP server that greets every connection with ``banner``."""

    def __init__(self, banner):
        self.banner = banner
        self.connections = 0
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                conn.sendall(self.banner)
                # Read what the client says until it gives up, like the real service.
                while conn.recv(4096):
                    pass

    def stop(self):
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()


def own_private_address():
    """This machine's address on its private network, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # A UDP "connect" only picks the route: no packet is sent.
            probe.connect((PRIVATE_ADDRESS, 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if is_public(address) or address.startswith("127.") else address


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestConnectionPolicy(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Param = cls.env["ir.config_parameter"]
        cls.system_user = new_test_user(
            cls.env,
            login="crm_mail_system",
            email="crm.mail.system@example.com",
            groups="base.group_user,base.group_system,crm_mail_sync.group_crm_mail_personal",
        )

    def setUp(self):
        super().setUp()
        # No host allowed: the default an administrator starts from.
        self.Param.set_param("crm_mail_sync.allowed_mail_hosts", False)

    def listener(self):
        """A listening socket on loopback that nobody answers; see ``assertUntouched``."""
        sock = socket.create_server((LOOPBACK, 0))
        self.addCleanup(sock.close)
        return sock

    def assertUntouched(self, listener):
        # A connection would wait in the backlog even though nothing accepts it.
        listener.settimeout(0.5)
        with self.assertRaises(TimeoutError, msg="the listener received a connection"):
            listener.accept()

    def banner_server(self, banner):
        server = BannerServer(banner)
        self.addCleanup(server.stop)
        return server

    def personal(self, user, host, port, **vals):
        login, password = self.new_mailbox("policy")
        vals.setdefault("timeout", 10)
        return self.create_personal_account(user, login, password, host=host, port=port, **vals)

    def allow_hosts(self, hosts):
        """Allowed Mail Hosts, set the way an administrator does it."""
        self.env["res.config.settings"].create(
            {"crm_mail_sync_allowed_mail_hosts": hosts}
        ).execute()

    def assertRefused(self, account):
        """Test Connection and a sync are refused by the policy, at once."""
        start = time.monotonic()
        with self.assertRaises(UserError) as caught:
            account.action_test_connection()
        self.assertIn(POLICY_TEXT, str(caught.exception))
        self.assertIn("Allowed Mail Hosts", str(caught.exception))
        # Fetch Now syncs as the superuser: the owner's restriction still holds.
        with self.assertLogs(ACCOUNT_LOGGER, "WARNING") as logged:
            notification = account.action_sync()
        self.assertEqual(notification["params"]["type"], "danger")
        self.assertIn(POLICY_TEXT, notification["params"]["message"])
        self.assertIn(POLICY_TEXT, "\n".join(logged.output))
        self.assertEqual(account.state, "error")
        self.assertIn(f"{account.host}:{account.port} {POLICY_TEXT}", account.last_error)
        self.assertLess(time.monotonic() - start, 3, "refused before any connection")
        return account.last_error

    # ------------------------------------------------------------------
    # The policy itself
    # ------------------------------------------------------------------

    def test_default_policy_refuses_every_non_public_address(self):
        policy = AddressPolicy()
        refused = (
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "fe80::1",
            "fe80::1%lo",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "ff02::1",
            "100.64.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "2001:db8::1",
            "240.0.0.1",
            "198.18.0.1",
            "fec0::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
        )
        for address in refused:
            with self.subTest(address=address):
                self.assertFalse(policy.allows(address))
        for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
            with self.subTest(address=address):
                self.assertTrue(policy.allows(address))

    def test_allowed_entries(self):
        policy = AddressPolicy.from_text(
            "127.0.0.1, 10.20.0.0/16; Mail.Intranet.Example. fd00::/8 not:a:host 127.1"
        )
        self.assertTrue(policy.allows("127.0.0.1"))
        self.assertTrue(policy.allows("::ffff:127.0.0.1"), "the IPv4-mapped form too")
        self.assertFalse(policy.allows("127.0.0.2"))
        self.assertTrue(policy.allows("10.20.30.40"))
        self.assertFalse(policy.allows("10.21.0.1"))
        self.assertTrue(policy.allows("fd00::25"))
        self.assertFalse(policy.allows("fe80::1"))
        # A host name allows the accounts that use that name, whatever it resolves to.
        self.assertTrue(policy.allows("192.168.5.5", "mail.intranet.example"))
        self.assertTrue(policy.allows("192.168.5.5", "MAIL.intranet.example."))
        self.assertFalse(policy.allows("192.168.5.5", "other.intranet.example"))
        self.assertFalse(policy.allows("192.168.5.5"))
        # Malformed entries allow nothing ("127.1" is not read as 127.0.0.1).
        self.assertFalse(policy.allows("192.168.1.1", "not:a:host"))
        self.assertEqual(
            invalid_entries("a.example, 127.1, h:25, *.x, [::1]"), ["127.1", "h:25", "*.x"]
        )
        with self.assertRaises(ValueError):
            AddressPolicy(["mail.example:993"])

    def test_session_refuses_before_connecting(self):
        listener = self.listener()
        port = listener.getsockname()[1]
        for host in (LOOPBACK, "localhost", "::ffff:127.0.0.1"):
            with self.subTest(host=host):
                session = ImapSession(
                    host, port, "none", "x", "y", timeout=5, address_policy=AddressPolicy()
                )
                with self.assertRaises(errors.AddressRefused) as caught:
                    session.connect()
                self.assertEqual(caught.exception.kind, "policy")
                self.assertIn(f"{host}:{port} {POLICY_TEXT}", str(caught.exception))
        self.assertUntouched(listener)

    # ------------------------------------------------------------------
    # Personal accounts of users who are not administrators
    # ------------------------------------------------------------------

    def test_personal_account_cannot_reach_the_database_port(self):
        port = int(config.get("db_port") or 5432)
        account = self.personal(self.mail_user, LOOPBACK, port)
        self.assertIsInstance(account._get_address_policy(), AddressPolicy)
        self.assertRefused(account)

    def test_personal_account_cannot_reach_a_loopback_service(self):
        listener = self.listener()
        port = listener.getsockname()[1]
        for host, protocol in ((LOOPBACK, "imap"), ("localhost", "pop3"), ("::1", "imap")):
            with self.subTest(host=host, protocol=protocol):
                account = self.personal(self.mail_user, host, port, protocol=protocol)
                self.assertRefused(account)
        self.assertUntouched(listener)

    def test_personal_account_cannot_reach_a_private_address(self):
        hosts = [PRIVATE_ADDRESS]
        own = own_private_address()
        if own:
            hosts.append(own)
        for host in hosts:
            with self.subTest(host=host):
                account = self.personal(self.mail_user, host, 143)
                error = self.assertRefused(account)
                self.assertNotIn("timed out", error)
                self.assertNotIn("unreachable", error)

    def test_allowed_mail_host_lets_the_account_through(self):
        login, password = self.new_mailbox("allowed")
        self.dovecot.seed(login, self.messages(2, seed=7))
        account = self.create_personal_account(self.mail_user, login, password)
        self.assertRefused(account)
        self.allow_hosts(f"mail.intranet.example, {self.dovecot.host}")
        self.assertEqual(
            self.Param.get_param("crm_mail_sync.allowed_mail_hosts"),
            f"mail.intranet.example, {self.dovecot.host}",
        )
        self.assertIn("INBOX", self.connect(account))
        self.sync(account.sudo())
        self.assertEqual(account.state, "connected")
        self.assertEqual(len(self.emails_of(account)), 2)

    def test_allowed_host_name(self):
        login, password = self.new_mailbox("named")
        account = self.create_personal_account(self.mail_user, login, password, host="LocalHost")
        self.assertRefused(account)
        # Listed by name: the account using that name reaches what it resolves to.
        self.allow_hosts("localhost")
        self.assertIn("INBOX", self.connect(account))
        # The name allows no other host, even one with the same address.
        other = self.personal(self.mail_user, LOOPBACK, self.dovecot.imap_port)
        self.assertRefused(other)

    def test_allowed_mail_hosts_setting_rejects_ports(self):
        with self.assertRaises(ValidationError):
            self.allow_hosts("127.0.0.1:10143")

    def test_group_and_administrator_accounts_are_not_restricted(self):
        login, password = self.new_mailbox("group")
        group = self.create_account(login, password)
        self.assertIsNone(group._get_address_policy())
        self.assertIn("INBOX", self.connect(group))
        for owner in (self.mail_admin, self.system_user):
            with self.subTest(owner=owner.login):
                login, password = self.new_mailbox("admin")
                account = self.create_personal_account(owner, login, password)
                self.assertIsNone(account._get_address_policy())
                self.assertIn("INBOX", self.connect(account))
                # Whoever presses the button: the rule follows the owner.
                self.assertIsNone(account.with_user(self.mail_admin)._get_address_policy())

    def test_restriction_follows_the_owner_not_the_caller(self):
        account = self.personal(self.mail_user, LOOPBACK, self.dovecot.imap_port)
        self.assertIsInstance(
            account.with_user(self.mail_admin)._get_address_policy(), AddressPolicy
        )
        self.assertIsInstance(account.sudo()._get_address_policy(), AddressPolicy)
        with self.assertRaises(UserError) as caught:
            account.with_user(self.mail_admin).action_test_connection()
        self.assertIn(POLICY_TEXT, str(caught.exception))

    def test_outgoing_server_on_a_private_host_is_refused(self):
        for host in (PRIVATE_ADDRESS, "localhost", "imap.localhost"):
            with self.subTest(host=host):
                account = self.personal(self.mail_user, host, 143)
                smtp_host = account._provider_smtp_values()["smtp_host"]
                if host == "imap.localhost" and not self._resolves(smtp_host):
                    continue  # the resolver here knows no *.localhost names
                with self.assertRaises(UserError) as caught:
                    account.action_create_smtp_server()
                self.assertIn(f"{smtp_host}:587 {POLICY_TEXT}", str(caught.exception))
                self.assertFalse(account.smtp_server_id)
        # Once allowed, the outgoing server is created.
        self.allow_hosts(PRIVATE_ADDRESS)
        account = self.personal(self.mail_user, PRIVATE_ADDRESS, 143)
        account.action_create_smtp_server()
        self.assertEqual(account.smtp_server_id.smtp_host, PRIVATE_ADDRESS)

    @staticmethod
    def _resolves(host):
        try:
            socket.getaddrinfo(host, None)
        except OSError:
            return False
        return True

    # ------------------------------------------------------------------
    # What a server that is not a mail server said is never shown
    # ------------------------------------------------------------------

    def test_banner_of_another_service_is_never_shown(self):
        for name, banner in BANNERS.items():
            server = self.banner_server(banner)
            for protocol in ("imap", "pop3"):
                with self.subTest(service=name, protocol=protocol):
                    login, password = self.new_mailbox("banner")
                    account = self.create_account(
                        login, password, protocol=protocol, port=server.port
                    )
                    self.assertIsNone(account._get_address_policy())
                    with self.assertRaises(UserError) as caught:
                        account.action_test_connection()
                    with self.assertLogs(ACCOUNT_LOGGER, "WARNING") as logged:
                        self.sync(account)
                    self.assertEqual(account.state, "error")
                    kind = "an IMAP" if protocol == "imap" else "a POP3"
                    self.assertIn(f"as {kind} server would", account.last_error)
                    shown = "\n".join([str(caught.exception), account.last_error, *logged.output])
                    for word in BANNER_WORDS:
                        self.assertNotIn(word, shown)
            self.assertGreaterEqual(server.connections, 4, "the service was reached")

    def test_errors_after_a_mail_greeting_keep_their_detail(self):
        server = self.banner_server(b"* OK fake IMAP ready\r\n* BYE detail-kept\r\n")
        session = ImapSession(LOOPBACK, server.port, "none", "x", "y", timeout=5)
        with self.assertRaises(errors.MailServerError) as caught:
            session.connect()
        self.assertIn("detail-kept", str(caught.exception))
