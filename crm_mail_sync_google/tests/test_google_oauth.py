# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Google OAuth against real peers: the shared Dovecot checking XOAUTH2 tokens at the
test OAuth provider on loopback (standing in for Google), the provider's token
endpoint (``crm_mail_sync_google.token_endpoint``), the aiosmtpd sink. The tests
themselves are crm_mail_sync's ``tests/oauth_common.py``, shared with the Microsoft
bridge."""

from odoo.tests import tagged

from odoo.addons.crm_mail_sync.tests import oauth_common


class GoogleSetup(oauth_common.OAuthSetup):
    auth_method = "google"
    provider_name = "Google"
    token_fields = (
        "google_gmail_access_token",
        "google_gmail_access_token_expiration",
        "google_gmail_refresh_token",
    )
    callback_path = "/google_gmail/confirm"
    client_id_param = "google_gmail_client_id"

    @classmethod
    def configure_provider(cls, env, provider, client_id):
        Config = env["ir.config_parameter"]
        Config.set_param("google_gmail_client_id", client_id)
        Config.set_param("google_gmail_client_secret", oauth_common.CLIENT_SECRET)
        Config.set_param("crm_mail_sync_google.token_endpoint", provider.token_url)
        Config.set_param("crm_mail_sync_google.auth_endpoint", provider.authorize_url)


@tagged("post_install", "-at_install", "crm_mail_sync_google")
class TestGoogleOAuth(GoogleSetup, oauth_common.OAuthAccountCase):
    def test_gmail_preset_picks_google_oauth(self):
        account = self.Account.new(
            {"name": "gmail", "account_type": "group", "email": "team@gmail.com"}
        )
        account.provider = "gmail"
        account._onchange_provider()
        self.assertEqual(account.auth_method, "google")
        self.assertIn("app password", account.auth_method_info)


@tagged("post_install", "-at_install", "crm_mail_sync_google")
class TestGoogleConsent(GoogleSetup, oauth_common.OAuthConsentCase):
    def test_consent_tour_as_owner(self):
        """In a browser: the owner's Connect button, the provider, back on the form."""
        self.provider.auto_consent = True
        self.start_tour(
            f"/odoo/crm.mail.account/{self.account.id}",
            "crm_mail_sync_oauth_consent",
            login="oauth_consent_user",
            timeout=120,
        )
        self.account.invalidate_recordset()
        self.assertEqual(self.account.state, "connected")
        access, _expiration, refresh = self.stored_tokens(self.account)
        self.assertEqual(self.provider.email_of(access), self.login)
