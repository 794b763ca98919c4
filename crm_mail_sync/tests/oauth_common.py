# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Tests of OAuth2 sign-in shared by the bridges (crm_mail_sync_google,
crm_mail_sync_microsoft): each subclasses these with its ``auth_method`` and the way
its provider is configured, and runs them against real peers: the shared Dovecot, which
checks XOAUTH2 tokens by introspection at the test OAuth provider on loopback, that
provider's token endpoint, and the aiosmtpd sink.

Not imported by crm_mail_sync's own test package: without a bridge there is no OAuth.
"""

import json
import logging
import time
import uuid
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, JsonRpcException, new_test_user
from odoo.tools import mute_logger

from .common import CrmMailSyncCase
from .servers import DovecotServer, get_shared_dovecot, get_shared_oauth_provider
from .smtp_sink import SmtpSink

CLIENT_SECRET = "client-secret-of-the-tests"


class OAuthSetup:
    """The provider's side, per bridge: set by the subclasses."""

    auth_method = None
    provider_name = None
    # The account's token columns (Odoo's mixin): access, expiration, refresh.
    token_fields = ()
    callback_path = None
    client_id_param = None

    @classmethod
    def configure_provider(cls, env, provider, client_id):
        """Point the bridge at the test provider (system parameters)."""
        raise NotImplementedError

    @classmethod
    def setup_oauth(cls, env):
        cls.provider = get_shared_oauth_provider()
        cls.client_id = f"client-{cls.auth_method}-{uuid.uuid4().hex[:8]}"
        cls.provider.add_client(cls.client_id, CLIENT_SECRET)
        cls.configure_provider(env, cls.provider, cls.client_id)

    # ------------------------------------------------------------------

    def stored_tokens(self, account):
        access, expiration, refresh = self.token_fields
        values = account.sudo().read(list(self.token_fields))[0]
        return values[access], values[expiration], values[refresh]

    def store_tokens(self, account, access, refresh, expires_in=3600):
        access_field, expiration_field, refresh_field = self.token_fields
        account.sudo().write(
            {
                access_field: access,
                expiration_field: int(time.time()) + expires_in,
                refresh_field: refresh,
            }
        )

    def refreshes(self, since):
        return [
            request
            for request in self.provider.requests[since:]
            if request == ("refresh_token", self.client_id)
        ]


class OAuthAccountCase(OAuthSetup, CrmMailSyncCase):
    """XOAUTH2 logins of a personal account owned by a user who is not an
    administrator, against the shared Dovecot and the test provider."""

    # Odoo's loader runs a class's own test methods only; these are the bridges'.
    allow_inherited_tests_method = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_oauth(cls.env)

    def setUp(self):
        super().setUp()
        self.provider.reset()

    def oauth_account(self, protocol="imap", expires_in=3600, **vals):
        """A mailbox on the Dovecot, and the personal account of ``mail_user`` signing
        in to it with OAuth; tokens issued for its login. Return (account, access,
        refresh)."""
        login = f"oauth-{uuid.uuid4().hex[:10]}@crm-mail-sync.test"
        # The mailbox has a password too: the tests put mail in it with it.
        self.dovecot.add_user(login, f"pw-{uuid.uuid4().hex[:12]}")
        values = {
            "protocol": protocol,
            "auth_method": self.auth_method,
            "port": self.dovecot.imap_port if protocol == "imap" else self.dovecot.pop3_port,
        }
        values.update(vals)
        account = self.create_personal_account(self.mail_user, login, False, **values)
        access, refresh = self.provider.issue(login, client_id=self.client_id)
        self.store_tokens(account, access, refresh, expires_in)
        return account, login, access, refresh

    def assert_no_token_in(self, text, *tokens):
        for token in tokens:
            self.assertNotIn(token, text or "")

    # ------------------------------------------------------------------

    def test_fetch_now_as_owner_over_xoauth2(self):
        account, login, access, refresh = self.oauth_account()
        self.dovecot.append(login, "INBOX", self.message(subject="OAuth hello"))
        self.assertEqual(account.oauth_action, False)
        self.assertTrue(account.oauth_connected)
        before = len(self.provider.requests)
        account.action_test_connection()
        result = account.action_sync()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(account.state, "connected")
        mine = self.Email.with_user(self.mail_user).search([("subject", "=", "OAuth hello")])
        self.assertEqual(len(mine), 1)
        # The token was valid: nothing asked of the token endpoint, and Dovecot checked
        # the very token stored.
        self.assertEqual(self.refreshes(before), [])
        self.assertIn((login, True), self.provider.introspections)
        self.assertEqual(self.stored_tokens(account)[0], access)

    def test_password_is_not_offered_to_oauth_login(self):
        account, login, access, refresh = self.oauth_account()
        self.dovecot.append(login, "INBOX", self.message(subject="No password"))
        # A password stored by mistake is not used: the token is.
        account.sudo().password_secret = "wrong-password"
        result = account.with_user(self.mail_user).action_sync()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])

    def test_expired_token_refreshed_once_stored_and_retried(self):
        account, login, access, refresh = self.oauth_account()
        self.dovecot.append(login, "INBOX", self.message(subject="After refresh"))
        # The server no longer accepts it, though Odoo believes it valid for an hour:
        # the login is refused, the token renewed once, the login retried.
        self.provider.expire(access)
        before = len(self.provider.requests)
        result = account.action_sync()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(len(self.refreshes(before)), 1)
        new_access, expiration, _refresh = self.stored_tokens(account)
        self.assertNotEqual(new_access, access)
        self.assertEqual(self.provider.email_of(new_access), login)
        self.assertGreater(expiration, time.time() + 3000)
        self.assertEqual(len(self.Email.search([("subject", "=", "After refresh")])), 1)
        # The next run uses the stored token: no further refresh.
        self.sync(account.sudo())
        self.assertEqual(len(self.refreshes(before)), 1)

    def test_token_expiring_soon_renewed_before_login_by_scheduled_run(self):
        account, login, access, refresh = self.oauth_account(expires_in=60)
        self.dovecot.append(login, "INBOX", self.message(subject="Scheduled"))
        before = len(self.provider.requests)
        # As the scheduled action does: superuser, no user present.
        stats = self.sync(account.sudo())
        self.assertFalse(stats["failed"], account.last_error)
        self.assertEqual(len(self.refreshes(before)), 1)
        self.assertNotEqual(self.stored_tokens(account)[0], access)
        self.assertEqual(account.state, "connected")

    def test_revoked_consent_puts_account_in_error(self):
        account, login, access, refresh = self.oauth_account()
        account.action_test_connection()
        self.provider.revoke(refresh_token=refresh)
        with self.assertLogs("odoo.addons.crm_mail_sync", "INFO") as logs:
            result = account.with_user(self.mail_user).action_sync()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(account.state, "error")
        self.assertIn(
            f"{self.provider_name} no longer accepts this mailbox's consent", account.last_error
        )
        self.assertIn("Reconnect", account.last_error)
        self.assertEqual(account.oauth_action, "reconnect")
        self.assertIn("Reconnect", account.last_error_advice)
        self.assert_no_token_in(account.last_error, access, refresh)
        self.assert_no_token_in(result["params"]["message"], access, refresh)
        self.assert_no_token_in("\n".join(logs.output), access, refresh)

    def test_never_connected_account_asks_to_connect(self):
        login = f"oauth-{uuid.uuid4().hex[:10]}@crm-mail-sync.test"
        account = self.create_personal_account(
            self.mail_user, login, False, auth_method=self.auth_method
        )
        self.assertEqual(account.oauth_action, "connect")
        with mute_logger("odoo.addons.crm_mail_sync.models.crm_mail_account"):
            self.sync(account.sudo())
        self.assertEqual(account.state, "error")
        self.assertIn("click Connect", account.last_error)

    def test_pop3_xoauth2(self):
        account, login, access, refresh = self.oauth_account(protocol="pop3")
        self.dovecot.append(login, "INBOX", self.message(subject="Over POP3"))
        self.provider.expire(access)
        before = len(self.provider.requests)
        account.action_test_connection()
        result = account.action_sync()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(len(self.Email.search([("subject", "=", "Over POP3")])), 1)
        self.assertEqual(len(self.refreshes(before)), 1)

    def test_pop3_without_xoauth2_is_refused_clearly(self):
        # A real Dovecot without the OAuth2 password database: its CAPA lists no XOAUTH2.
        with DovecotServer() as password_only:
            account, login, access, refresh = self.oauth_account(protocol="pop3")
            password_only.add_user(login, "unused")
            account.sudo().port = password_only.pop3_port
            with mute_logger("odoo.addons.crm_mail_sync.models.crm_mail_account"):
                self.sync(account.sudo())
        self.assertEqual(account.state, "error")
        self.assertIn("does not offer OAuth sign-in (SASL XOAUTH2) over POP3", account.last_error)
        self.assertIn("choose IMAP", account.last_error)
        self.assert_no_token_in(account.last_error, access, refresh)

    def test_smtp_xoauth2_with_the_accounts_token(self):
        sink = SmtpSink(oauth_provider=self.provider).start()
        self.addCleanup(sink.stop)
        account, login, access, refresh = self.oauth_account()
        account.with_user(self.mail_user).action_create_smtp_server()
        server = account.smtp_server_id.sudo()
        self.assertEqual(server.smtp_user, login)
        self.assertFalse(server.smtp_pass)
        server.write({"smtp_host": sink.host, "smtp_port": sink.port, "smtp_encryption": "none"})
        # Expired at the provider: the first AUTH is refused, then renewed and retried.
        self.provider.expire(access)
        before = len(self.provider.requests)
        customer = self.env["res.partner"].create(
            {"name": "Carl", "email": "carl@customer.example"}
        )
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.mail_user)
            .create(
                {
                    "composition_mode": "comment",
                    "model": "res.partner",
                    "res_ids": str(customer.ids),
                    "crm_mail_account_id": account.id,
                    "partner_ids": [(6, 0, customer.ids)],
                    "subject": "Sent with XOAUTH2",
                    "body": "<p>Hello</p>",
                }
            )
        )
        with patch("odoo.modules.module.current_test", None):
            composer.action_send_mail()
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(sink.messages[0]["auth_login"], login)
        self.assertEqual(sink.messages[0]["auth_mechanism"], "XOAUTH2")
        self.assertEqual([attempt[2] for attempt in sink.auth_attempts], [False, True])
        self.assertEqual(len(self.refreshes(before)), 1)
        self.assertNotEqual(self.stored_tokens(account)[0], access)

    def test_tokens_never_exported_nor_readable(self):
        account, login, access, refresh = self.oauth_account()
        names = ["name", *self.token_fields]
        # Even the superuser's export leaves them blank.
        exported = account.sudo().export_data(names)["datas"]
        self.assertEqual(exported[0][0], account.name)
        self.assert_no_token_in(str(exported), access, refresh)
        # Through a relation too.
        folder = self.local_folder(account.sudo(), "INBOX")
        exported = folder.sudo().export_data(
            ["name", *(f"account_id/{name}" for name in self.token_fields)]
        )["datas"]
        self.assert_no_token_in(str(exported), access, refresh)
        # The owner edits the account but never reads its tokens.
        as_owner = account.with_user(self.mail_user)
        for name in self.token_fields:
            with self.assertRaises(AccessError):
                as_owner.read([name])
        # Every field of the form the owner is shown.
        views = as_owner.get_views([(False, "form")])
        readable = [
            name
            for name in views["models"]["crm.mail.account"]["fields"]
            # The quarantine's button is the Emails administrators' only.
            if not name.startswith("quarantine")
        ]
        self.assertNotIn(self.token_fields[0], readable)
        self.assert_no_token_in(str(as_owner.read(readable)), access, refresh)
        self.assertTrue(as_owner.oauth_connected)


class OAuthConsentCase(OAuthSetup, HttpCase):
    """The consent round trip as a user who is not an administrator, through Odoo's
    redirect URL and the test provider; and what the callback refuses."""

    allow_inherited_tests_method = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_oauth(cls.env)
        cls.dovecot = get_shared_dovecot()
        cls.env["ir.config_parameter"].set_param(
            "crm_mail_sync.allowed_mail_hosts", cls.dovecot.host
        )
        groups = (
            "base.group_user,crm_mail_sync.group_crm_mail_user,"
            "crm_mail_sync.group_crm_mail_personal"
        )
        cls.user = new_test_user(
            cls.env,
            login="oauth_consent_user",
            password="oauth_consent_user",
            email="oauth.consent@example.com",
            groups=groups,
        )
        cls.other = new_test_user(
            cls.env,
            login="oauth_consent_other",
            password="oauth_consent_other",
            email="oauth.other@example.com",
            groups=groups,
        )

    def setUp(self):
        super().setUp()
        self.provider.reset()
        self.login = f"consent-{uuid.uuid4().hex[:10]}@crm-mail-sync.test"
        self.dovecot.add_user(self.login, f"pw-{uuid.uuid4().hex[:12]}")
        self.provider.consent_email = self.login
        self.account = (
            self.env["crm.mail.account"]
            .with_user(self.user)
            .create(
                {
                    "name": "My OAuth mailbox",
                    "account_type": "personal",
                    "user_id": self.user.id,
                    "email": self.user.email,
                    "host": self.dovecot.host,
                    "port": self.dovecot.imap_port,
                    "security": "none",
                    "login": self.login,
                    "auth_method": self.auth_method,
                    "timeout": 10,
                }
            )
        )

    def authorize_url(self, account=None):
        action = (account or self.account).with_user(self.user).action_oauth_connect()
        self.assertEqual(action["type"], "ir.actions.act_url")
        return action["url"]

    def consent(self, authorize_url):
        """Allow at the provider's page; return the callback URL it redirects to."""
        params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        page = requests.get(authorize_url, timeout=10)
        self.assertEqual(page.status_code, 200)
        self.assertIn('id="allow"', page.text)
        answer = requests.post(
            self.provider.authorize_url,
            data={**params, "decision": "allow"},
            allow_redirects=False,
            timeout=10,
        )
        self.assertEqual(answer.status_code, 302)
        location = answer.headers["Location"]
        self.assertTrue(urlsplit(location).path.endswith(self.callback_path), location)
        return location

    def callback(self, location, state=None):
        """GET the callback as the logged-in user; ``state`` replaces the provider's."""
        parts = urlsplit(location)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if state is not None:
            query["state"] = state
        return self.url_open(f"{self.callback_path}?{urlencode(query)}", allow_redirects=False)

    def test_consent_round_trip_as_owner(self):
        self.authenticate("oauth_consent_user", "oauth_consent_user")
        self.assertEqual(self.account.with_user(self.user).oauth_action, "connect")
        url = self.authorize_url()
        self.assertTrue(url.startswith(self.provider.url), url)
        location = self.consent(url)
        response = self.callback(location)
        self.assertIn(response.status_code, (302, 303))
        # The HTTP request log (werkzeug's, written by the server thread) shows the
        # callback, never its one-time code: the line as werkzeug's log_request makes it.
        code = parse_qs(urlsplit(location).query)["code"][0]
        werkzeug_log = logging.getLogger("werkzeug")
        record = werkzeug_log.makeRecord(
            "werkzeug",
            logging.INFO,
            __file__,
            0,
            '127.0.0.1 - - [-] "%s" %s %s',
            (f"GET {location} HTTP/1.1", "302", "-"),
            None,
        )
        self.assertTrue(werkzeug_log.filter(record))
        self.assertIn(self.callback_path, record.getMessage())
        self.assertNotIn(code, record.getMessage())
        self.assertTrue(
            response.headers["Location"].endswith(f"/odoo/crm.mail.account/{self.account.id}")
        )
        access, _expiration, refresh = self.stored_tokens(self.account)
        self.assertEqual(self.provider.email_of(access), self.login)
        self.assertTrue(refresh)
        self.account.invalidate_recordset()
        self.assertEqual(self.account.state, "connected")
        self.assertTrue(self.account.folder_ids.filtered(lambda folder: folder.name == "INBOX"))
        self.assertTrue(self.account.with_user(self.user).oauth_connected)
        # The code was exchanged once, with the bridge's client.
        self.assertIn(("authorization_code", self.client_id), self.provider.requests)

    def test_wrong_or_missing_state_token_is_refused(self):
        self.authenticate("oauth_consent_user", "oauth_consent_user")
        location = self.consent(self.authorize_url())
        for csrf_token in ("forged", None):
            state = json.dumps(
                {"model": "crm.mail.account", "id": self.account.id, "csrf_token": csrf_token}
            )
            with self.assertLogs("odoo.addons.crm_mail_sync.controllers.oauth", "WARNING"):
                response = self.callback(location, state=state)
            self.assertEqual(response.status_code, 403)
        self.assertEqual(self.stored_tokens(self.account), (False, 0, False))
        self.assertEqual(self.account.state, "not_configured")

    def test_another_users_account_is_refused(self):
        location = self.consent(self.authorize_url())
        self.authenticate("oauth_consent_other", "oauth_consent_other")
        with self.assertLogs("odoo.addons.crm_mail_sync.controllers.oauth", "WARNING"):
            response = self.callback(location)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.stored_tokens(self.account), (False, 0, False))

    def test_denied_consent_is_shown_on_the_form(self):
        self.authenticate("oauth_consent_user", "oauth_consent_user")
        self.provider.deny_next = True
        location = self.consent(self.authorize_url())
        response = self.callback(location)
        self.assertIn(response.status_code, (302, 303))
        self.account.invalidate_recordset()
        self.assertEqual(self.account.state, "error")
        self.assertIn("did not complete (access_denied)", self.account.last_error)
        self.assertEqual(self.stored_tokens(self.account), (False, 0, False))

    def test_connect_needs_the_client_settings(self):
        self.env["ir.config_parameter"].set_param(self.client_id_param, "")
        account = self.account.with_user(self.user)
        self.assertIn("Settings > General Settings", account.auth_method_info)
        with self.assertRaises(UserError) as caught:
            account.action_oauth_connect()
        self.assertIn("client id and secret", str(caught.exception))

    def test_tokens_not_readable_over_json_rpc_by_owner(self):
        access, refresh = self.provider.issue(self.login, client_id=self.client_id)
        self.store_tokens(self.account, access, refresh)
        self.authenticate("oauth_consent_user", "oauth_consent_user")

        def call(method, args, kwargs=None):
            return self.make_jsonrpc_request(
                f"/web/dataset/call_kw/crm.mail.account/{method}",
                {
                    "model": "crm.mail.account",
                    "method": method,
                    "args": args,
                    "kwargs": kwargs or {},
                },
            )

        read = call("read", [[self.account.id], ["name", "oauth_connected", "auth_method"]])
        self.assertTrue(read[0]["oauth_connected"])
        self.assertNotIn(access, str(read))
        for name in self.token_fields:
            with self.assertRaises(JsonRpcException) as caught, mute_logger("odoo.http"):
                call("read", [[self.account.id], [name]])
            self.assertNotIn(access, str(caught.exception))
            self.assertNotIn(refresh, str(caught.exception))
        # The form's view loads without them.
        views = call("get_views", [], {"views": [[False, "form"]]})
        self.assertNotIn(access, json.dumps(views))
