"""Real servers for tests, the demo and the benchmark: no Odoo import here.

* ``DovecotServer``: a private Dovecot (IMAP, IMAPS, POP3, POP3S) on 127.0.0.1, with
  its own configuration, passwd file, Maildir storage and self-signed certificate in
  one directory. Works when run as root and as a normal user.

The SMTP sink is in ``smtp_sink.py``, the proxy that cuts connections in
``cutting_proxy.py``.
"""

import atexit
import contextlib
import datetime
import grp
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


class Server:
    """A server the tests start and stop; ``with server:`` does both."""

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def find_dovecot():
    """Return the dovecot binary, or raise with what to install."""
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and os.access(candidate, os.X_OK):
            if not os.path.exists("/usr/lib/dovecot/pop3"):
                raise RuntimeError("Dovecot POP3 is not installed: apt-get install dovecot-pop3d")
            return candidate
    raise RuntimeError("Dovecot is not installed: apt-get install dovecot-imapd dovecot-pop3d")


def free_port():
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.5):
            return True
        time.sleep(0.05)
    return False


def _self_signed_certificate(cert_file, key_file):

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(cert_file, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    os.chmod(key_file, 0o600)


CONFIG = """\
# Private test instance of crm_mail_sync: loopback only, plain passwords.
base_dir = {workdir}/run
state_dir = {workdir}/state
instance_name = crm-mail-sync-{port_imap}
log_path = {workdir}/dovecot.log
info_log_path = {workdir}/dovecot.log
protocols = imap pop3
listen = {host}
ssl = yes
ssl_cert = <{workdir}/cert.pem
ssl_key = <{workdir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
first_valid_uid = 0
first_valid_gid = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
pop3_uidl_format = %08Xu%08Xv
mail_max_userip_connections = 200
auth_cache_size = 0
auth_failure_delay = 0
verbose_proctitle = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {workdir}/passwd.d/%u{passwd_mechanisms}
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={workdir}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = {separator}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port_imap}
  }}
  inet_listener imaps {{
    address = {host}
    port = {port_imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = {host}
    port = {port_pop3}
  }}
  inet_listener pop3s {{
    address = {host}
    port = {port_pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

# With ``oauth_introspection_url``: SASL XOAUTH2 and OAUTHBEARER, whose bearer token is
# checked by RFC 7662 introspection (``tests/oauth_provider.py``); the token's "email"
# must be the login. The password database keeps the password mechanisms (and the
# lookups without a mechanism), the oauth2 one the token mechanisms.
OAUTH_MECHANISMS = "xoauth2 oauthbearer"

OAUTH_PASSWD_MECHANISMS = """
  mechanisms = plain login none"""

OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {config_file}
}}
"""

OAUTH_CONFIG = """\
# Bearer tokens of the test OAuth provider, checked at each login (no cache).
introspection_mode = post
introspection_url = {introspection_url}
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 10000
"""


class DovecotServer(Server):
    """A private Dovecot listening on loopback, storing mail under ``workdir``."""

    host = LOOPBACK

    def __init__(
        self, workdir=None, ports=None, keep=False, oauth_introspection_url=None, separator="/"
    ):
        """
        :param workdir: directory for configuration and mail (default: a new temp dir)
        :param ports: dict with imap_port, imaps_port, pop3_port, pop3s_port (default:
            free ports picked at start)
        :param keep: keep ``workdir`` when stopped (the demo's mailboxes survive)
        :param oauth_introspection_url: also accept SASL XOAUTH2 and OAUTHBEARER, with
            bearer tokens checked by introspection at this URL (an ``OAuthProvider``'s
            ``introspection_url``); password logins work as without it
        :param separator: the hierarchy delimiter of folder names (``/`` or ``.``)
        """
        self.oauth_introspection_url = oauth_introspection_url
        self.separator = separator
        self.binary = find_dovecot()
        self.workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="crm-mail-dovecot-"))
        self.keep = keep or bool(workdir)
        ports = ports or {}
        self.imap_port = ports.get("imap_port") or free_port()
        self.imaps_port = ports.get("imaps_port") or free_port()
        self.pop3_port = ports.get("pop3_port") or free_port()
        self.pop3s_port = ports.get("pop3s_port") or free_port()
        self.cert_file = os.path.join(self.workdir, "cert.pem")
        self.config_file = os.path.join(self.workdir, "dovecot.conf")
        self.oauth_config_file = os.path.join(self.workdir, "dovecot-oauth2.conf.ext")
        self.passwd_dir = os.path.join(self.workdir, "passwd.d")
        self.passwords = {}
        self._seed_counter = 0
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self._load_passwords()

    # ------------------------------------------------------------------
    # Process
    # ------------------------------------------------------------------

    def _write_config(self):
        uid, gid = self.mail_uid, self.mail_gid
        if os.getuid() == 0:
            # Dovecot drops privileges to these Debian system users for its helper
            # processes, and never accesses mail as root: mail belongs to 'nobody'.
            internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
        else:
            internal_user = login_user = pwd.getpwuid(uid).pw_name
            internal_group = grp.getgrgid(gid).gr_name
        for sub in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        if os.getuid() == 0:
            # Helper processes running as dovecot must reach their sockets.
            os.chmod(self.workdir, 0o755)
        mechanisms, passwd_mechanisms, oauth_passdb = "plain login", "", ""
        if self.oauth_introspection_url:
            mechanisms += " " + OAUTH_MECHANISMS
            passwd_mechanisms = OAUTH_PASSWD_MECHANISMS
            oauth_passdb = OAUTH_PASSDB.format(
                mechanisms=OAUTH_MECHANISMS, config_file=self.oauth_config_file
            )
            with open(self.oauth_config_file, "w") as handle:
                handle.write(OAUTH_CONFIG.format(introspection_url=self.oauth_introspection_url))
        with open(self.config_file, "w") as handle:
            handle.write(
                CONFIG.format(
                    workdir=self.workdir,
                    auth_mechanisms=mechanisms,
                    passwd_mechanisms=passwd_mechanisms,
                    oauth_passdb=oauth_passdb,
                    host=self.host,
                    uid=uid,
                    gid=gid,
                    internal_user=internal_user,
                    internal_group=internal_group,
                    login_user=login_user,
                    port_imap=self.imap_port,
                    port_imaps=self.imaps_port,
                    port_pop3=self.pop3_port,
                    port_pop3s=self.pop3s_port,
                    separator=self.separator,
                )
            )
        if not os.path.exists(self.cert_file):
            _self_signed_certificate(self.cert_file, os.path.join(self.workdir, "key.pem"))
        os.makedirs(self.passwd_dir, exist_ok=True)

    def _master_pid(self):
        pid_file = os.path.join(self.workdir, "run", "master.pid")
        try:
            with open(pid_file) as handle:
                pid = int(handle.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self):
        """Start Dovecot (a no-op when this directory's instance already runs)."""
        self._write_config()
        if self._master_pid() and _wait_port(self.imap_port, 1):
            return self
        # The master daemonizes and keeps its inherited descriptors: hand it a file,
        # not a pipe, or reading its output would wait for Dovecot to exit.
        startup_log = os.path.join(self.workdir, "startup.log")
        with open(startup_log, "w") as output:
            result = subprocess.run(
                [self.binary, "-c", self.config_file],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                check=False,
            )
        ports = (self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port)
        if result.returncode or not all(_wait_port(port) for port in ports):
            with open(startup_log, errors="replace") as output:
                raise RuntimeError(
                    f"Dovecot did not start: {output.read().strip()}\n{self._log_tail()}"
                )
        return self

    def stop(self):
        """Stop Dovecot and all its processes; remove the temp dir unless kept."""
        pid = self._master_pid()
        if pid:
            subprocess.run(
                [self.binary, "-c", self.config_file, "stop"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            deadline = time.monotonic() + 10
            while self._master_pid() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._master_pid():
                os.kill(pid, signal.SIGKILL)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _log_tail(self, lines=20):
        try:
            with open(os.path.join(self.workdir, "dovecot.log"), errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------
    # Users and mail
    # ------------------------------------------------------------------

    def _load_passwords(self):
        with contextlib.suppress(OSError):
            for login in os.listdir(self.passwd_dir):
                with open(os.path.join(self.passwd_dir, login)) as handle:
                    line = handle.readline()
                self.passwords[login] = line.split(":")[1].removeprefix("{PLAIN}")

    def add_user(self, login, password):
        """Create a mailbox user (Dovecot re-reads the passwd file by itself)."""
        if not re.fullmatch(r"[A-Za-z0-9._@+-]+", login) or ":" in password:
            raise ValueError("unsupported login or password for the test server")
        self.passwords[login] = password
        home = os.path.join(self.workdir, "mail", login)
        os.makedirs(home, exist_ok=True)
        self._own(home)
        # One passwd file per user: Dovecot reads a file it has not seen yet at once,
        # while it notices changes to a file it knows at most once a second.
        with open(os.path.join(self.passwd_dir, login), "w") as handle:
            handle.write(f"{login}:{{PLAIN}}{password}::::::\n")

    def _own(self, path):
        """Hand a path written by this process to the mail user Dovecot runs as."""
        if os.getuid() == 0:
            os.chown(path, self.mail_uid, self.mail_gid)

    def maildir(self, login, folder="INBOX"):
        root = os.path.join(self.workdir, "mail", login, "Maildir")
        base = root
        if folder.upper() != "INBOX":
            base = os.path.join(root, "." + folder.replace("/", "."))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        for path in {root, base} | {os.path.join(base, sub) for sub in ("cur", "new", "tmp")}:
            self._own(path)
        return base

    def seed(self, login, messages, folder="INBOX", seen=False, internal_date=None):
        """Write messages straight into the user's Maildir (fast, for thousands).

        Dovecot numbers them, in order, the next time the folder is opened.
        """
        base = self.maildir(login, folder)
        flags = "S" if seen else ""
        stamp = internal_date.timestamp() if internal_date else None
        now = int(time.time())
        for raw in messages:
            self._seed_counter += 1
            name = f"{now}.M{self._seed_counter:08d}P{os.getpid()}.crmtest,S={len(raw)}:2,{flags}"
            path = os.path.join(base, "cur", name)
            with open(path, "wb") as handle:
                handle.write(raw)
            self._own(path)
            if stamp:
                os.utime(path, (stamp, stamp))
        if folder.upper() != "INBOX":
            self._subscribe(login, folder)

    def _subscribe(self, login, folder):
        path = os.path.join(self.workdir, "mail", login, "Maildir", "subscriptions")
        with contextlib.suppress(OSError), open(path, "a+") as handle:
            handle.seek(0)
            if folder not in handle.read().splitlines():
                handle.write(folder + "\n")
        with contextlib.suppress(OSError):
            self._own(path)

    @contextlib.contextmanager
    def imap(self, login):
        """A logged-in imaplib connection as ``login`` (for test set-up and checks)."""
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(login, self.passwords[login])
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def append(self, login, folder, raw, flags=(), internal_date=None):
        """APPEND over IMAP; return the new UID (Dovecot reports APPENDUID)."""
        with self.imap(login) as conn:
            if folder.upper() != "INBOX":
                conn.create(_quote(folder))
            date = (
                imaplib.Time2Internaldate(
                    internal_date.replace(tzinfo=datetime.timezone.utc)
                    if internal_date and internal_date.tzinfo is None
                    else internal_date
                )
                if internal_date
                else None
            )
            typ, data = conn.append(
                _quote(folder), "(" + " ".join(flags) + ")" if flags else None, date, raw
            )
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
            match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
            return int(match.group(1)) if match else None

    def flags(self, login, folder="INBOX"):
        """UID -> frozenset of flags, read-only (EXAMINE)."""
        with self.imap(login) as conn:
            typ, _data = conn.select(_quote(folder), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"cannot examine {folder}")
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            result = {}
            for line in data or []:
                if not isinstance(line, bytes):
                    continue
                uid = re.search(rb"UID (\d+)", line)
                flags = re.search(rb"FLAGS \(([^)]*)\)", line)
                if uid:
                    # \Recent belongs to a session, not to the message.
                    result[int(uid.group(1))] = frozenset(
                        flag
                        for flag in (flags.group(1).decode().split() if flags else ())
                        if flag != "\\Recent"
                    )
            return result

    def uidvalidity(self, login, folder="INBOX"):
        with self.imap(login) as conn:
            typ, data = conn.status(_quote(folder), "(UIDVALIDITY)")
            return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def create_folder(self, login, folder):
        with self.imap(login) as conn:
            conn.create(_quote(folder))

    def delete_folder(self, login, folder):
        with self.imap(login) as conn:
            typ, data = conn.delete(_quote(folder))
            if typ != "OK":
                raise RuntimeError(f"DELETE failed: {data!r}")

    def rename_folder(self, login, old, new):
        with self.imap(login) as conn:
            typ, data = conn.rename(_quote(old), _quote(new))
            if typ != "OK":
                raise RuntimeError(f"RENAME failed: {data!r}")

    def recreate_folder_new_uidvalidity(self, login, folder):
        """Delete and recreate ``folder`` with the same messages: a new UIDVALIDITY."""
        before = self.uidvalidity(login, folder)
        with self.imap(login) as conn:
            conn.select(_quote(folder), readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            saved = []
            for item in data or []:
                if isinstance(item, tuple):
                    meta, raw = item
                    flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
                    date = re.search(rb'INTERNALDATE ("[^"]+")', meta)
                    saved.append(
                        (
                            raw,
                            "(" + flags.group(1).decode().replace("\\Recent", "").strip() + ")"
                            if flags
                            else None,
                            date.group(1).decode() if date else None,
                        )
                    )
            conn.close()
            conn.delete(_quote(folder))
            conn.create(_quote(folder))
            for raw, flags, date in saved:
                conn.append(_quote(folder), flags if flags != "()" else None, date, raw)
        after = self.uidvalidity(login, folder)
        if after == before:
            raise RuntimeError("Dovecot kept the UIDVALIDITY of the recreated folder")
        return after


def _quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_shared = {}


def get_shared_oauth_provider():
    """The process-wide OAuth2 provider of the test run, started on first use.

    The shared Dovecot checks its bearer tokens (XOAUTH2, OAUTHBEARER) with it.
    """
    if "oauth_provider" not in _shared:
        # Imported here: the benchmark and the demo load this file on its own, outside
        # the package, where a relative import at the top would fail.
        from .oauth_provider import OAuthProvider  # noqa: PLC0415

        provider = OAuthProvider().start()
        atexit.register(provider.stop)
        _shared["oauth_provider"] = provider
    return _shared["oauth_provider"]


def get_shared_dovecot():
    """The process-wide Dovecot of the test run, started on first use.

    Besides passwords it accepts XOAUTH2 and OAUTHBEARER logins with the tokens of
    ``get_shared_oauth_provider()`` issued for the login.
    """
    if "dovecot" not in _shared:
        # scripts/test names the directory so it can stop a Dovecot left behind by
        # a test process that died.
        workdir = os.environ.get("CRM_MAIL_SYNC_TEST_DOVECOT_DIR")
        provider = get_shared_oauth_provider()
        server = DovecotServer(workdir=workdir, oauth_introspection_url=provider.introspection_url)
        server.keep = False
        server.start()
        atexit.register(server.stop)
        _shared["dovecot"] = server
    return _shared["dovecot"]
