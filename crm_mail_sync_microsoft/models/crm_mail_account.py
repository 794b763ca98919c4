# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Microsoft OAuth for mail accounts, with the tokens of Odoo's
``microsoft.outlook.mixin``.

The XOAUTH2 logins themselves are crm_mail_sync's (``crm_mail_account_oauth.py``);
this module answers its ``_oauth_*`` hooks for ``auth_method == "microsoft"``. The
endpoint is Odoo's system parameter ``microsoft_outlook.endpoint``.
"""

import json
import logging
import time

from werkzeug.urls import url_encode, url_join

from odoo import fields, models

_logger = logging.getLogger(__name__)


class CrmMailAccount(models.Model):
    _name = "crm.mail.account"
    _inherit = ["crm.mail.account", "microsoft.outlook.mixin"]

    # One token for the three protocols of the mailbox (offline_access is added by
    # Odoo's mixin, for the refresh token).
    _OUTLOOK_SCOPE = (
        "https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/POP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send"
    )

    auth_method = fields.Selection(
        selection_add=[("microsoft", "Microsoft OAuth")], ondelete={"microsoft": "set default"}
    )

    def _secret_field_names(self):
        return super()._secret_field_names() | {
            "microsoft_outlook_refresh_token",
            "microsoft_outlook_access_token",
            "microsoft_outlook_uri",
        }

    def _compute_oauth_connected(self):
        microsoft = self.filtered(lambda account: account.auth_method == "microsoft")
        for account in microsoft:
            # sudo: the token columns belong to the system group (Odoo's mixin).
            account.oauth_connected = bool(account.sudo().microsoft_outlook_refresh_token)
        return super(CrmMailAccount, self - microsoft)._compute_oauth_connected()

    def _oauth_provider_name(self):
        if self.auth_method == "microsoft":
            return "Microsoft"
        return super()._oauth_provider_name()

    def _microsoft_client(self):
        Config = self.env["ir.config_parameter"].sudo()
        return Config.get_param("microsoft_outlook_client_id"), Config.get_param(
            "microsoft_outlook_client_secret"
        )

    def _microsoft_redirect_uri(self):
        return url_join(self.get_base_url(), "/microsoft_outlook/confirm")

    def _oauth_setup_missing(self):
        if self.auth_method != "microsoft":
            return super()._oauth_setup_missing()
        client_id, client_secret = self._microsoft_client()
        if client_id and client_secret:
            return False
        return self.env._(
            "An administrator must first enter the Microsoft (Outlook) OAuth client id "
            "and secret: Settings > General Settings > Emails > Custom Email Servers > "
            "Use an Outlook Server."
        )

    def _oauth_tokens(self):
        if self.auth_method != "microsoft":
            return super()._oauth_tokens()
        # sudo: see _compute_oauth_connected.
        account = self.sudo()
        return (
            account.microsoft_outlook_access_token,
            account.microsoft_outlook_access_token_expiration,
            account.microsoft_outlook_refresh_token,
        )

    def _oauth_write_tokens(self, access, expiration, refresh=None):
        """Store new tokens (sudo); Microsoft sends a new refresh token each time."""
        if self.auth_method != "microsoft":
            return super()._oauth_write_tokens(access, expiration, refresh)
        values = {
            "microsoft_outlook_access_token": access,
            "microsoft_outlook_access_token_expiration": expiration,
        }
        if refresh:
            values["microsoft_outlook_refresh_token"] = refresh
        self.sudo().write(values)

    def _oauth_refresh(self):
        if self.auth_method != "microsoft":
            return super()._oauth_refresh()
        response = self._fetch_outlook_token("refresh_token", refresh_token=self._oauth_tokens()[2])
        expires_in = int(response.get("expires_in") or 3600)
        self._oauth_write_tokens(
            response["access_token"], int(time.time()) + expires_in, response.get("refresh_token")
        )
        _logger.info(
            "Mail account %s (id %s): new Microsoft access token, valid for %s minutes",
            self.name,
            self.id,
            expires_in // 60,
        )

    def _oauth_store_consent(self, code):
        if self.auth_method != "microsoft":
            return super()._oauth_store_consent(code)
        refresh, access, expiration = self._fetch_outlook_refresh_token(code)
        self._oauth_write_tokens(access, expiration, refresh)

    def _oauth_csrf_token(self):
        if self.auth_method != "microsoft":
            return super()._oauth_csrf_token()
        return self._get_outlook_csrf_token()

    def _oauth_authorize_url(self, state):
        if self.auth_method != "microsoft":
            return super()._oauth_authorize_url(state)
        client_id, _secret = self._microsoft_client()
        params = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": self._microsoft_redirect_uri(),
            "response_mode": "query",
            "scope": f"offline_access {self._OUTLOOK_SCOPE}",
            "login_hint": self.login or self.email,
            "state": json.dumps(state),
        }
        return url_join(self._get_microsoft_endpoint(), f"authorize?{url_encode(params)}")

    def _fetch_outlook_token(self, grant_type, **values):
        """Odoo's request (its endpoint parameter), with crm_mail_sync's errors (a
        revoked consent says so, and no answer from Microsoft is quoted)."""
        client_id, client_secret = self._microsoft_client()
        return self._oauth_token_request(
            url_join(self._get_microsoft_endpoint(), "token"),
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "scope": f"offline_access {self._OUTLOOK_SCOPE}",
                "redirect_uri": self._microsoft_redirect_uri(),
                "grant_type": grant_type,
                **values,
            },
        )
