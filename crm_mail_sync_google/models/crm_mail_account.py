# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Google OAuth for mail accounts, with the tokens of Odoo's ``google.gmail.mixin``.

The XOAUTH2 logins themselves are crm_mail_sync's (``crm_mail_account_oauth.py``);
this module answers its ``_oauth_*`` hooks for ``auth_method == "google"``.
"""

import json
import logging
import time

from werkzeug.urls import url_encode, url_join

from odoo import fields, models

_logger = logging.getLogger(__name__)

GOOGLE_AUTH_ENDPOINT = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"


class CrmMailAccount(models.Model):
    _name = "crm.mail.account"
    _inherit = ["crm.mail.account", "google.gmail.mixin"]

    auth_method = fields.Selection(
        selection_add=[("google", "Google OAuth")], ondelete={"google": "set default"}
    )

    def _secret_field_names(self):
        return super()._secret_field_names() | {
            "google_gmail_authorization_code",
            "google_gmail_refresh_token",
            "google_gmail_access_token",
            "google_gmail_uri",
        }

    def _compute_oauth_connected(self):
        google = self.filtered(lambda account: account.auth_method == "google")
        for account in google:
            # sudo: the token columns belong to the system group (Odoo's mixin).
            account.oauth_connected = bool(account.sudo().google_gmail_refresh_token)
        return super(CrmMailAccount, self - google)._compute_oauth_connected()

    def _oauth_provider_name(self):
        if self.auth_method == "google":
            return "Google"
        return super()._oauth_provider_name()

    def _google_endpoint(self, kind):
        """The authorization or token endpoint (system parameters
        ``crm_mail_sync_google.auth_endpoint``, ``.token_endpoint``: for tests and
        proxies; mail accounts only, Odoo's own Gmail servers keep Google's)."""
        default = GOOGLE_AUTH_ENDPOINT if kind == "auth" else GOOGLE_TOKEN_ENDPOINT
        return (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(f"crm_mail_sync_google.{kind}_endpoint", default)
            or default
        )

    def _google_client(self):
        Config = self.env["ir.config_parameter"].sudo()
        return Config.get_param("google_gmail_client_id"), Config.get_param(
            "google_gmail_client_secret"
        )

    def _oauth_setup_missing(self):
        if self.auth_method != "google":
            return super()._oauth_setup_missing()
        client_id, client_secret = self._google_client()
        if client_id and client_secret:
            return False
        return self.env._(
            "An administrator must first enter the Google OAuth client id and secret: "
            "Settings > General Settings > Emails > Custom Email Servers > Use a Gmail "
            "Server."
        )

    def _oauth_tokens(self):
        if self.auth_method != "google":
            return super()._oauth_tokens()
        # sudo: see _compute_oauth_connected.
        account = self.sudo()
        return (
            account.google_gmail_access_token,
            account.google_gmail_access_token_expiration,
            account.google_gmail_refresh_token,
        )

    def _oauth_write_tokens(self, access, expiration, refresh=None):
        """Store new tokens (sudo); a refresh token only when the provider sent one."""
        if self.auth_method != "google":
            return super()._oauth_write_tokens(access, expiration, refresh)
        values = {
            "google_gmail_access_token": access,
            "google_gmail_access_token_expiration": expiration,
        }
        if refresh:
            values["google_gmail_refresh_token"] = refresh
        self.sudo().write(values)

    def _oauth_refresh(self):
        if self.auth_method != "google":
            return super()._oauth_refresh()
        response = self._fetch_gmail_token("refresh_token", refresh_token=self._oauth_tokens()[2])
        expires_in = int(response.get("expires_in") or 3600)
        self._oauth_write_tokens(
            response["access_token"], int(time.time()) + expires_in, response.get("refresh_token")
        )
        _logger.info(
            "Mail account %s (id %s): new Google access token, valid for %s minutes",
            self.name,
            self.id,
            expires_in // 60,
        )

    def _oauth_store_consent(self, code):
        if self.auth_method != "google":
            return super()._oauth_store_consent(code)
        refresh, access, expiration = self._fetch_gmail_refresh_token(code)
        self._oauth_write_tokens(access, expiration, refresh)
        self.sudo().google_gmail_authorization_code = False

    def _oauth_csrf_token(self):
        if self.auth_method != "google":
            return super()._oauth_csrf_token()
        return self._get_gmail_csrf_token()

    def _oauth_authorize_url(self, state):
        if self.auth_method != "google":
            return super()._oauth_authorize_url(state)
        client_id, _secret = self._google_client()
        params = {
            "client_id": client_id,
            "redirect_uri": url_join(self.get_base_url(), "/google_gmail/confirm"),
            "response_type": "code",
            "scope": self._SERVICE_SCOPE,
            # access_type and prompt: a refresh token, as Odoo's own mixin asks.
            "access_type": "offline",
            "prompt": "consent",
            "login_hint": self.login or self.email,
            "state": json.dumps(state),
        }
        return f"{self._google_endpoint('auth')}?{url_encode(params)}"

    def _fetch_gmail_token(self, grant_type, **values):
        """Odoo's request, at the overridable endpoint, with crm_mail_sync's errors
        (a revoked consent says so, and no answer from Google is quoted)."""
        client_id, client_secret = self._google_client()
        return self._oauth_token_request(
            self._google_endpoint("token"),
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": grant_type,
                "redirect_uri": url_join(self.get_base_url(), "/google_gmail/confirm"),
                **values,
            },
        )
