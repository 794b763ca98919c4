# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Microsoft OAuth against real peers: the shared Dovecot checking XOAUTH2 tokens at
the test OAuth provider on loopback (standing in for Microsoft, through Odoo's own
``microsoft_outlook.endpoint``), the aiosmtpd sink. The tests themselves are
crm_mail_sync's ``tests/oauth_common.py``, shared with the Google bridge."""

from odoo.tests import tagged

from odoo.addons.crm_mail_sync.tests import oauth_common


class MicrosoftSetup(oauth_common.OAuthSetup):
    auth_method = "microsoft"
    provider_name = "Microsoft"
    token_fields = (
        "microsoft_outlook_access_token",
        "microsoft_outlook_access_token_expiration",
        "microsoft_outlook_refresh_token",
    )
    callback_path = "/microsoft_outlook/confirm"
    client_id_param = "microsoft_outlook_client_id"

    @classmethod
    def configure_provider(cls, env, provider, client_id):
        Config = env["ir.config_parameter"]
        Config.set_param("microsoft_outlook_client_id", client_id)
        Config.set_param("microsoft_outlook_client_secret", oauth_common.CLIENT_SECRET)
        Config.set_param("microsoft_outlook.endpoint", provider.url)


@tagged("post_install", "-at_install", "crm_mail_sync_microsoft")
class TestMicrosoftOAuth(MicrosoftSetup, oauth_common.OAuthAccountCase):
    def test_outlook_preset_picks_microsoft_oauth(self):
        account = self.Account.new(
            {"name": "outlook", "account_type": "group", "email": "team@contoso.example"}
        )
        account.provider = "outlook"
        account._onchange_provider()
        self.assertEqual(account.auth_method, "microsoft")
        self.assertIn("basic", account.auth_method_info)

    def test_rotated_refresh_token_is_stored(self):
        self.provider.rotate_refresh = True
        account, login, access, refresh = self.oauth_account(expires_in=0)
        self.sync(account.sudo())
        self.assertEqual(account.state, "connected", account.last_error)
        _access, _expiration, new_refresh = self.stored_tokens(account)
        self.assertNotEqual(new_refresh, refresh)
        # The old one was revoked by the rotation: only the stored one works now.
        self.provider.expire(self.stored_tokens(account)[0])
        self.sync(account.sudo())
        self.assertEqual(account.state, "connected", account.last_error)


@tagged("post_install", "-at_install", "crm_mail_sync_microsoft")
class TestMicrosoftConsent(MicrosoftSetup, oauth_common.OAuthConsentCase):
    pass
