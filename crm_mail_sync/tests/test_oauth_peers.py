# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The OAuth2 test peers, without Odoo models: the provider (consent page, token and
introspection endpoints), the shared Dovecot's XOAUTH2 and OAUTHBEARER logins (IMAP,
POP3) and the SMTP sink's AUTH XOAUTH2."""

import base64
import binascii
import json
import poplib
import smtplib
import time
import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from werkzeug.urls import url_join

from odoo.tests import BaseCase, tagged

from . import mail_corpus
from .oauth_provider import OAuthProvider
from .servers import get_shared_dovecot, get_shared_oauth_provider
from .smtp_sink import SmtpSink

REDIRECT_URI = "http://127.0.0.1:8069/microsoft_outlook/confirm"
# Dovecot answers a failed login after about half a second, a little later when the
# same address failed just before (its authentication penalty); a hang would last
# until the client's timeout.
REFUSAL_SECONDS = 8
CLIENT_TIMEOUT = 20


class _FormReader(HTMLParser):
    """The first form of a page as a browser submits it: action, fields, buttons."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.buttons = {}
        self._button = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action")
        elif tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "button":
            self._button = attrs
            self.buttons[attrs.get("id")] = dict(attrs, text="")

    def handle_data(self, data):
        if self._button is not None:
            self.buttons[self._button.get("id")]["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


def xoauth2(login, token):
    """The XOAUTH2 initial response as Odoo's mixins build it, base64-encoded."""
    return base64.b64encode(f"user={login}\1auth=Bearer {token}\1\1".encode()).decode()


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestOAuthPeers(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = get_shared_dovecot()
        cls.provider = get_shared_oauth_provider()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.provider.reset)
        self.client_id = f"client-{uuid.uuid4().hex[:8]}"
        self.client_secret = f"secret-{uuid.uuid4().hex}"
        self.provider.add_client(self.client_id, self.client_secret)

    def mailbox(self, count=0):
        login, password = f"oauth-{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex[:10]}"
        self.dovecot.add_user(login, password)
        if count:
            self.dovecot.seed(login, mail_corpus.many_messages(count, seed=count))
        return login, password

    # ------------------------------------------------------------------
    # Provider
    # ------------------------------------------------------------------

    def consent(self, decision="allow", state='{"id": 7, "csrf_token": "a&b c"}'):
        """Open the consent page and press a button: return the redirect's query."""
        page = requests.get(
            self.provider.authorize_url,
            params={
                "client_id": self.client_id,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "response_mode": "query",
                "scope": "offline_access https://outlook.office.com/IMAP.AccessAsUser.All",
                "state": state,
            },
            timeout=10,
        )
        self.assertEqual(page.status_code, 200)
        form = _FormReader()
        form.feed(page.text)
        self.assertIn("allow", form.buttons, "the consent page has no button with id 'allow'")
        self.assertEqual(form.buttons["allow"]["text"].strip(), "Allow")
        self.assertIn(self.provider.consent_email, page.text)
        button = form.buttons[decision]
        answer = requests.post(
            url_join(page.url, form.action),
            data={**form.fields, button["name"]: button["value"]},
            allow_redirects=False,
            timeout=10,
        )
        self.assertEqual(answer.status_code, 302)
        location = answer.headers["Location"]
        self.assertTrue(location.startswith(REDIRECT_URI + "?"), location)
        query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
        self.assertEqual(query.get("state"), state, "the state must come back unchanged")
        return query

    def token(self, **data):
        data.setdefault("client_id", self.client_id)
        data.setdefault("client_secret", self.client_secret)
        return requests.post(self.provider.token_url, data=data, timeout=10)

    def assertOAuthError(self, response, error):
        self.assertEqual(response.status_code, 400, response.text)
        self.assertEqual(response.json()["error"], error)

    def test_endpoints_under_microsoft_endpoint(self):
        """``url`` works as Odoo's microsoft_outlook.endpoint (url_join keeps its path)."""
        provider = self.provider
        self.assertTrue(provider.url.endswith("/"))
        self.assertEqual(url_join(provider.url, "token"), provider.token_url)
        self.assertEqual(url_join(provider.url, "authorize?a=1"), provider.authorize_url + "?a=1")
        self.assertEqual(provider.introspection_url, provider.url + "introspect")

    def test_consent_code_tokens_refresh_revoke(self):
        login, _password = self.mailbox()
        self.provider.consent_email = login
        code = self.consent()["code"]

        answer = self.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        self.assertEqual(answer.status_code, 200, answer.text)
        tokens = answer.json()
        self.assertEqual(tokens["token_type"], "Bearer")
        self.assertEqual(tokens["expires_in"], 3600)
        self.assertTrue(tokens["access_token"] and tokens["refresh_token"])
        self.assertIn("scope", tokens)
        self.assertEqual(self.provider.email_of(tokens["access_token"]), login)

        # The code is single-use.
        again = self.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        self.assertOAuthError(again, "invalid_grant")

        refreshes = self.provider.requests.count(("refresh_token", self.client_id))
        refreshed = self.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        self.assertEqual(refreshed.status_code, 200, refreshed.text)
        refreshed = refreshed.json()
        self.assertNotEqual(refreshed["access_token"], tokens["access_token"])
        self.assertEqual(refreshed["refresh_token"], tokens["refresh_token"])
        self.assertEqual(self.provider.email_of(refreshed["access_token"]), login)
        self.assertEqual(
            self.provider.requests.count(("refresh_token", self.client_id)), refreshes + 1
        )

        # A wrong client secret, then a revoked refresh token.
        bad_secret = self.token(
            grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_secret="no"
        )
        self.assertOAuthError(bad_secret, "invalid_client")
        self.provider.revoke(tokens["refresh_token"])
        revoked = self.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        self.assertOAuthError(revoked, "invalid_grant")
        self.assertIsNone(self.provider.email_of(refreshed["access_token"]))

    def test_code_needs_its_redirect_uri_and_client(self):
        code = self.consent()["code"]
        other = self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri="http://127.0.0.1:8069/elsewhere",
        )
        self.assertOAuthError(other, "invalid_grant")
        code = self.consent()["code"]
        other_id = f"client-{uuid.uuid4().hex[:8]}"
        self.provider.add_client(other_id, "other-secret")
        stolen = self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT_URI,
            client_id=other_id,
            client_secret="other-secret",
        )
        self.assertOAuthError(stolen, "invalid_grant")
        unsupported = self.token(grant_type="password", username="x", password="y")
        self.assertOAuthError(unsupported, "unsupported_grant_type")

    def test_deny_and_unknown_client(self):
        self.provider.deny_next = True
        query = self.consent()
        self.assertEqual(query.get("error"), "access_denied")
        self.assertNotIn("code", query)
        self.assertFalse(self.provider.deny_next, "deny_next is for the next consent only")
        self.assertIn("code", self.consent())
        self.assertEqual(self.consent(decision="deny").get("error"), "access_denied")

        page = requests.get(
            self.provider.authorize_url,
            params={
                "client_id": "nobody",
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "state": "s",
            },
            timeout=10,
        )
        self.assertEqual(page.status_code, 400)
        self.assertNotIn('id="allow"', page.text)

    def test_rotating_refresh_token(self):
        self.provider.rotate_refresh = True
        access, refresh = self.provider.issue("rotating@crm-mail-sync.test")
        answer = self.token(grant_type="refresh_token", refresh_token=refresh)
        self.assertEqual(answer.status_code, 200, answer.text)
        new_refresh = answer.json()["refresh_token"]
        self.assertNotEqual(new_refresh, refresh)
        self.assertOAuthError(
            self.token(grant_type="refresh_token", refresh_token=refresh), "invalid_grant"
        )
        self.assertEqual(
            self.token(grant_type="refresh_token", refresh_token=new_refresh).status_code, 200
        )
        self.assertEqual(self.provider.email_of(access), "rotating@crm-mail-sync.test")

    def test_introspection(self):
        self.provider.access_lifetime = 120
        access, _refresh = self.provider.issue("seen@crm-mail-sync.test")
        url = self.provider.introspection_url
        answer = requests.post(url, data={"token": access}, timeout=10).json()
        self.assertIs(answer["active"], True)
        self.assertEqual(answer["email"], "seen@crm-mail-sync.test")
        self.assertEqual(answer["username"], "seen@crm-mail-sync.test")
        self.assertAlmostEqual(answer["exp"], time.time() + 120, delta=30)
        bearer = requests.get(url, headers={"Authorization": f"Bearer {access}"}, timeout=10)
        self.assertIs(bearer.json()["active"], True)
        self.provider.expire(access)
        self.assertEqual(
            requests.post(url, data={"token": access}, timeout=10).json(), {"active": False}
        )
        unknown = requests.post(url, data={"token": "at-unknown"}, timeout=10).json()
        self.assertEqual(unknown, {"active": False})

    def test_no_secret_in_log(self):
        logger = OAuthProvider.__module__  # its logger is named after its module
        with self.assertLogs(logger, "DEBUG") as logs:
            code = self.consent()["code"]
            tokens = self.token(
                grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
            ).json()
            requests.post(
                self.provider.introspection_url,
                data={"token": tokens["access_token"]},
                timeout=10,
            )
        output = "\n".join(logs.output)
        self.assertIn("/token", output)
        for secret in (code, tokens["access_token"], tokens["refresh_token"], self.client_secret):
            self.assertNotIn(secret, output)

    # ------------------------------------------------------------------
    # Dovecot: IMAP and POP3
    # ------------------------------------------------------------------

    def imap(self, timeout=CLIENT_TIMEOUT):
        return IMAPClient(self.dovecot.host, self.dovecot.imap_port, ssl=False, timeout=timeout)

    def assertRefusedQuickly(self, call):
        started = time.monotonic()
        with self.assertRaises(LoginError):
            call()
        self.assertLess(time.monotonic() - started, REFUSAL_SECONDS)

    def test_imap_xoauth2_and_oauthbearer(self):
        login, password = self.mailbox(count=2)
        access, _refresh = self.provider.issue(login)

        client = self.imap()
        self.assertIn(b"AUTH=XOAUTH2", client.capabilities())
        client.oauth2_login(login, access)
        self.assertIn("INBOX", [name for _flags, _sep, name in client.list_folders()])
        self.assertEqual(client.select_folder("INBOX", readonly=True)[b"EXISTS"], 2)
        client.logout()

        # An expired token: NO (after Dovecot's JSON error continuation), no hang.
        self.provider.expire(access)
        client = self.imap()
        self.assertRefusedQuickly(lambda: client.oauth2_login(login, access))
        client.shutdown()

        # The password still works for the same user.
        client = self.imap()
        client.login(login, password)
        self.assertEqual(client.select_folder("INBOX", readonly=True)[b"EXISTS"], 2)
        client.logout()

        # A valid token of someone else is not this login's.
        stranger, _refresh = self.provider.issue(f"stranger-{uuid.uuid4().hex[:6]}")
        client = self.imap()
        self.assertRefusedQuickly(lambda: client.oauth2_login(login, stranger))
        client.shutdown()

        fresh, _refresh = self.provider.issue(login)
        client = self.imap()
        self.assertIn(b"AUTH=OAUTHBEARER", client.capabilities())
        client.oauthbearer_login(login, fresh)
        self.assertEqual(client.select_folder("INBOX", readonly=True)[b"EXISTS"], 2)
        client.logout()

    def pop3(self):
        return poplib.POP3(self.dovecot.host, self.dovecot.pop3_port, timeout=CLIENT_TIMEOUT)

    def test_pop3_xoauth2(self):
        login, password = self.mailbox(count=3)
        access, _refresh = self.provider.issue(login)

        pop = self.pop3()
        self.assertTrue(pop._shortcmd("AUTH XOAUTH2 " + xoauth2(login, access)).startswith(b"+OK"))
        self.assertEqual(pop.stat()[0], 3)
        pop.quit()

        # Refused: a "+ <base64 JSON>" continuation, the client's empty line, -ERR.
        self.provider.expire(access)
        pop = self.pop3()
        started = time.monotonic()
        challenge = pop._shortcmd("AUTH XOAUTH2 " + xoauth2(login, access))
        self.assertTrue(challenge.startswith(b"+ "), challenge)
        error = json.loads(base64.b64decode(challenge[2:]))
        self.assertEqual(error.get("status"), "401")
        with self.assertRaisesRegex(poplib.error_proto, "^b'-ERR"):
            pop._shortcmd("")
        self.assertLess(time.monotonic() - started, REFUSAL_SECONDS)
        pop.close()

        pop = self.pop3()
        pop.user(login)
        pop.pass_(password)
        self.assertEqual(pop.stat()[0], 3)
        pop.quit()

    # ------------------------------------------------------------------
    # SMTP sink
    # ------------------------------------------------------------------

    def smtp_sink(self, **kw):
        sink = SmtpSink(**kw).start()
        self.addCleanup(sink.stop)
        return sink

    def smtp(self, sink):
        connection = smtplib.SMTP(sink.host, sink.port, timeout=CLIENT_TIMEOUT)
        self.addCleanup(connection.close)
        connection.ehlo()
        return connection

    def test_smtp_xoauth2(self):
        sink = self.smtp_sink(oauth_provider=self.provider)
        login = f"sender-{uuid.uuid4().hex[:8]}@crm-mail-sync.test"
        access, _refresh = self.provider.issue(login)
        raw = b"Subject: oauth\r\n\r\nbody\r\n"

        # smtplib's own AUTH.
        smtp = self.smtp(sink)
        self.assertIn("XOAUTH2", smtp.esmtp_features.get("auth", "").split())
        code, _msg = smtp.auth(
            "XOAUTH2", lambda challenge=None: f"user={login}\1auth=Bearer {access}\1\1"
        )
        self.assertEqual(code, 235)
        smtp.sendmail(login, ["to@example.com"], raw)
        smtp.quit()
        self.assertEqual(sink.messages[-1]["auth_login"], login)
        self.assertEqual(sink.messages[-1]["auth_mechanism"], "XOAUTH2")

        # Odoo's way (google_gmail / microsoft_outlook ir.mail_server._smtp_login).
        smtp = self.smtp(sink)
        self.assertEqual(smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(login, access))[0], 235)
        smtp.sendmail(login, ["to@example.com"], raw)
        smtp.quit()
        self.assertEqual(len(sink.messages), 2)
        self.assertEqual(sink.messages[-1]["auth_login"], login)

        # Without AUTH the sink still takes mail, and says so.
        smtp = self.smtp(sink)
        smtp.sendmail("anonymous@example.com", ["to@example.com"], raw)
        smtp.quit()
        self.assertIsNone(sink.messages[-1]["auth_login"])

    def test_smtp_xoauth2_refused(self):
        sink = self.smtp_sink(oauth_provider=self.provider)
        login = f"sender-{uuid.uuid4().hex[:8]}@crm-mail-sync.test"
        access, _refresh = self.provider.issue(login, expires_in=0)

        # The Gmail dance: 334 <base64 JSON>, an empty line, 535.
        smtp = self.smtp(sink)
        code, challenge = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(login, access))
        self.assertEqual(code, 334)
        try:
            error = json.loads(base64.b64decode(challenge, validate=True))
        except (binascii.Error, ValueError):
            self.fail(f"the challenge is not base64 JSON: {challenge!r}")
        self.assertEqual(error["status"], "400")
        self.assertEqual(smtp.docmd("")[0], 535)

        # smtplib.auth answers the challenge itself and raises.
        with self.assertRaises(smtplib.SMTPAuthenticationError) as caught:
            smtp.auth("XOAUTH2", lambda challenge=None: f"user={login}\1auth=Bearer {access}\1\1")
        self.assertEqual(caught.exception.smtp_code, 535)

        # A client that ignores the 334 (docmd, then sending): its MAIL gets the 535.
        smtp = self.smtp(sink)
        smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(login, access))
        with self.assertRaises(smtplib.SMTPSenderRefused) as caught:
            smtp.sendmail(login, ["to@example.com"], b"Subject: x\r\n\r\nx\r\n")
        self.assertEqual(caught.exception.smtp_code, 535)

        # A valid token, but for another login.
        other, _refresh = self.provider.issue("other@crm-mail-sync.test")
        smtp = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            smtp.auth("XOAUTH2", lambda challenge=None: f"user={login}\1auth=Bearer {other}\1\1")
        self.assertEqual(sink.messages, [])
        self.assertEqual([accepted for _m, _l, accepted in sink.auth_attempts], [False] * 4)

    def test_smtp_sink_without_provider_unchanged(self):
        sink = self.smtp_sink()
        smtp = self.smtp(sink)
        self.assertFalse(smtp.has_extn("auth"))
        smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: plain\r\n\r\nx\r\n")
        smtp.quit()
        self.assertEqual(len(sink.messages), 1)
        self.assertIsNone(sink.messages[0]["auth_login"])

    def test_separate_provider_instance(self):
        """A provider of its own (not the shared one) starts, answers and stops."""
        with OAuthProvider() as provider:
            self.assertNotEqual(provider.port, self.provider.port)
            provider.add_client("c", "s")
            access, refresh = provider.issue("own@crm-mail-sync.test", client_id="c")
            answer = requests.post(
                provider.token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh,
                    "client_id": "c",
                    "client_secret": "s",
                },
                timeout=10,
            )
            self.assertEqual(answer.status_code, 200)
            self.assertIsNone(self.provider.email_of(access))
            url = provider.token_url
        with self.assertRaises(requests.ConnectionError):
            requests.post(url, data={}, timeout=5)
