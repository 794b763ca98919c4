# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Signing in with OAuth2 (SASL XOAUTH2) instead of a password.

The XOAUTH2 exchange is the same whatever the provider, so it is written once, here,
for IMAP, POP3 and SMTP: get an access token (renewed when it is missing or expires
within ``OAUTH_EXPIRY_MARGIN`` seconds), log in, and when the server refuses the token
renew it once and log in once more. Where the token comes from is the provider's: the
bridge add-ons (``crm_mail_sync_google``, ``crm_mail_sync_microsoft``) add their value
to ``auth_method`` and answer the ``_oauth_*`` hooks below with Odoo's own token
mixins (``google.gmail.mixin``, ``microsoft.outlook.mixin``).

Tokens are read and written with sudo (their columns belong to the system group, like
Odoo's), never logged, never quoted in an error, never exported.
"""

import base64
import imaplib
import logging
import poplib
import re
import smtplib
import time

import requests
from imapclient import exceptions as imapclient_errors

from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import consteq

from ..lib import errors as mail_errors

_logger = logging.getLogger(__name__)

# An access token expiring within this many seconds is renewed before it is used.
OAUTH_EXPIRY_MARGIN = 300


def xoauth2_string(login, token):
    """The SASL XOAUTH2 initial response (not base64-encoded)."""
    return f"user={login}\1auth=Bearer {token}\1\1"


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    # ------------------------------------------------------------------
    # Hooks answered by the bridge of each authentication method
    # ------------------------------------------------------------------

    def _oauth_unsupported(self):
        """The error of an ``_oauth_*`` hook that no bridge answers for this method."""
        return UserError(
            self.env._("%s cannot sign in with this authentication method.", self.display_name)
        )

    def _oauth_provider_name(self):
        """Hook: the provider's name in messages, e.g. "Google"."""
        return dict(self._fields["auth_method"]._description_selection(self.env)).get(
            self.auth_method, self.auth_method
        )

    def _oauth_tokens(self):
        """Hook: ``(access_token, expiration timestamp, refresh_token)`` of the account."""
        raise self._oauth_unsupported()

    def _oauth_refresh(self):
        """Hook: renew the access token with the refresh token and store it (sudo)."""
        raise self._oauth_unsupported()

    def _oauth_write_tokens(self, access, expiration, refresh=None):
        """Hook: store an access token, its expiration timestamp and, when the provider
        sent one, a new refresh token (sudo)."""
        raise self._oauth_unsupported()

    def _oauth_csrf_token(self):
        """Hook: the token that ties a consent's ``state`` to this account."""
        raise AccessError(self.env._("This authentication method has no consent."))

    def _oauth_authorize_url(self, state):
        """Hook: the provider's consent page for this account, carrying ``state``."""
        raise self._oauth_unsupported()

    def _oauth_store_consent(self, code):
        """Hook: exchange an authorization ``code`` for tokens and store them (sudo)."""
        raise self._oauth_unsupported()

    def _oauth_setup_missing(self):
        """Hook: what an administrator must set up first (the OAuth client), or False."""
        return False

    # ------------------------------------------------------------------
    # Tokens
    # ------------------------------------------------------------------

    def _oauth_access_token(self, force_refresh=False):
        """A valid access token: the stored one, or a new one when it is missing, when it
        expires within ``OAUTH_EXPIRY_MARGIN`` seconds, or when ``force_refresh``.

        :raise OAuthFailed: when the account was never connected or the provider refused
        """
        self.ensure_one()
        access, expiration, refresh = self._oauth_tokens()
        if not refresh:
            raise mail_errors.OAuthFailed(
                self.env._(
                    "%(account)s is not connected to %(provider)s yet: click Connect and "
                    "sign in with %(login)s.",
                    account=self.display_name,
                    provider=self._oauth_provider_name(),
                    login=self.login or self.email,
                )
            )
        if force_refresh or not access or (expiration or 0) < time.time() + OAUTH_EXPIRY_MARGIN:
            self._oauth_refresh()
            access, _expiration, _refresh = self._oauth_tokens()
        return access

    def _oauth_token_request(self, url, data):
        """POST ``data`` to the provider's token endpoint ``url``; return its JSON answer.

        :raise OAuthFailed: with a plain message when the provider refuses; an
            ``invalid_grant`` (consent revoked or expired) asks for a new sign-in
        :raise ConnectionFailed: when the endpoint cannot be reached
        """
        provider = self._oauth_provider_name()
        try:
            response = requests.post(url, data=data, timeout=10)
        except requests.RequestException as exc:
            raise mail_errors.ConnectionFailed(
                self.env._(
                    "%(provider)s's token endpoint could not be reached (%(error)s); the "
                    "next run retries.",
                    provider=provider,
                    error=type(exc).__name__,
                )
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.ok and payload.get("access_token"):
            return payload
        # Only the error code is quoted: a short word such as invalid_client.
        error = re.sub(r"[^A-Za-z0-9_.-]", "", str(payload.get("error") or ""))[:60]
        error = error or f"HTTP {response.status_code}"
        if error == "invalid_grant":
            raise mail_errors.OAuthFailed(
                self.env._(
                    "%(provider)s no longer accepts this mailbox's consent (revoked or "
                    "expired). Click Reconnect to sign in again.",
                    provider=provider,
                )
            )
        raise mail_errors.OAuthFailed(
            self.env._(
                "%(provider)s refused to issue an access token (%(error)s). Click "
                "Reconnect to sign in again; if it keeps failing, an administrator checks "
                "the OAuth client id and secret under Settings.",
                provider=provider,
                error=error,
            )
        )

    def _oauth_authenticate(self, send, rejected):
        """Log in with ``send(token)``; when the server refuses the token (``rejected``
        exception classes), renew the token once and log in once more."""
        self.ensure_one()
        before = self._oauth_tokens()[0]
        token = self._oauth_access_token()
        try:
            send(token)
            return
        except rejected:
            if token != before:
                # Just renewed, and refused all the same: a new one would be too.
                raise self._oauth_refused() from None
        _logger.info(
            "Mail account %s (id %s): the server refused the access token; renewing it",
            self.name,
            self.id,
        )
        token = self._oauth_access_token(force_refresh=True)
        try:
            send(token)
        except rejected:
            raise self._oauth_refused() from None

    def _oauth_refused(self):
        return mail_errors.OAuthFailed(
            self.env._(
                "The mail server refused %(provider)s's access token for %(login)s. Check "
                "that the login is the address you signed in with, then click Reconnect.",
                provider=self._oauth_provider_name(),
                login=self.login or self.email,
            )
        )

    # ------------------------------------------------------------------
    # Logging in, per protocol
    # ------------------------------------------------------------------

    def _imap_login(self, session):
        """XOAUTH2 (``AUTHENTICATE XOAUTH2``) for OAuth accounts."""
        if self.auth_method == "password":
            return super()._imap_login(session)
        return self._oauth_authenticate(
            lambda token: session.conn.oauth2_login(session.login, token),
            (imapclient_errors.LoginError, imaplib.IMAP4.error),
        )

    def _pop3_login(self, session):
        """``AUTH XOAUTH2`` (RFC 5034 with an initial response) for OAuth accounts, when
        the server lists it in its CAPA; a clear refusal otherwise."""
        if self.auth_method == "password":
            return super()._pop3_login(session)
        conn = session.conn
        try:
            capabilities = conn.capa()
        except poplib.error_proto:
            capabilities = {}
        mechanisms = {word.upper() for word in capabilities.get("SASL", ())}
        if "XOAUTH2" not in mechanisms:
            raise mail_errors.OAuthFailed(
                self.env._(
                    "%(server)s does not offer OAuth sign-in (SASL XOAUTH2) over POP3, so "
                    "%(account)s cannot use it with %(provider)s: choose IMAP instead.",
                    server=session.host,
                    account=self.display_name,
                    provider=self._oauth_provider_name(),
                )
            )

        def send(token):
            response = base64.b64encode(xoauth2_string(session.login, token).encode()).decode()
            answer = conn._shortcmd(f"AUTH XOAUTH2 {response}")
            if not answer.startswith(b"+OK"):
                # An XOAUTH2 failure comes as a challenge holding the error; the client
                # answers it with an empty line and the server then says -ERR.
                conn._putcmd("")
                conn._getresp()
                raise poplib.error_proto(b"-ERR XOAUTH2 failed")

        return self._oauth_authenticate(send, (poplib.error_proto,))

    def _smtp_oauth_login(self, connection, smtp_user):
        """``AUTH XOAUTH2`` on an SMTP connection of this account's outgoing server."""
        self.ensure_one()

        def send(token):
            connection.ehlo_or_helo_if_needed()
            response = base64.b64encode(xoauth2_string(smtp_user, token).encode()).decode()
            code, message = connection.docmd("AUTH", f"XOAUTH2 {response}")
            if code == 334:
                # The error challenge: an empty answer ends the exchange (535 follows).
                code, message = connection.docmd("")
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, message)

        self._oauth_authenticate(send, (smtplib.SMTPAuthenticationError,))

    # ------------------------------------------------------------------
    # Consent
    # ------------------------------------------------------------------

    def action_oauth_connect(self):
        """Button Connect / Reconnect: the provider's consent page for this account.

        Whoever may edit the account may connect it: its owner, for a personal mailbox,
        or an Emails administrator; the provider's answer comes back to Odoo's own
        redirect URL (``/google_gmail/confirm``, ``/microsoft_outlook/confirm``).
        """
        self.ensure_one()
        self.check_access("write")
        if self.auth_method == "password":
            raise UserError(self.env._("%s signs in with a password.", self.display_name))
        missing = self._oauth_setup_missing()
        if missing:
            raise UserError(missing)
        state = {"model": self._name, "id": self.id, "csrf_token": self._oauth_csrf_token()}
        return {
            "type": "ir.actions.act_url",
            "url": self._oauth_authorize_url(state),
            "target": "self",
        }

    @api.model
    def _oauth_receive_consent(self, auth_method, account_id, csrf_token, code=None, error=None):
        """The provider's answer to a consent, as the user it came back to.

        Checked before anything is stored: the account exists and signs in with
        ``auth_method``, the current user may edit it, and ``csrf_token`` is the one its
        Connect button sent. Then the code is exchanged for tokens (stored with sudo) and
        a test login lists the folders.

        :return: the account
        :raise AccessError: when a check fails (the controller answers 403)
        """
        account = self.browse(account_id).exists()
        if not account or account.auth_method != auth_method:
            raise AccessError(self.env._("This consent is not for a mailbox you may edit."))
        account.check_access("write")
        if not csrf_token or not consteq(str(csrf_token), account._oauth_csrf_token()):
            raise AccessError(self.env._("This consent is not for a mailbox you may edit."))
        # sudo: the user may edit the account (checked above); its status fields and
        # token columns are written by the system.
        account_sudo = account.sudo()
        if error:
            account_sudo._oauth_record_failure(
                self.env._(
                    "The sign-in at %(provider)s did not complete (%(error)s). Click "
                    "Reconnect to try again.",
                    provider=account._oauth_provider_name(),
                    error=re.sub(r"[^A-Za-z0-9_.-]", "", str(error))[:60],
                )
            )
            return account
        try:
            account_sudo._oauth_store_consent(code)
        except mail_errors.MailServerError as exc:
            account_sudo._oauth_record_failure(str(exc))
            return account
        _logger.info("Mail account %s (id %s): OAuth consent stored", account.name, account.id)
        try:
            account.action_test_connection()
        except UserError as exc:
            account_sudo._oauth_record_failure(exc.args[0])
        return account

    def _oauth_record_failure(self, message):
        """Show ``message`` on the form (no back-off: the user is there to act)."""
        _logger.info("Mail account %s (id %s): %s", self.name, self.id, message)
        self.write({"state": "error", "last_error": message})
