# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import http

from odoo.addons.crm_mail_sync.controllers.oauth import is_account_state, oauth_callback
from odoo.addons.google_gmail.controllers.main import GoogleGmailController


class CrmMailGoogleController(GoogleGmailController):
    @http.route()
    def google_gmail_callback(self, code=None, state=None, error=None, **kwargs):
        """Odoo's Gmail callback, also for the mail accounts of users who are not
        administrators (checked by crm_mail_sync: who may edit the account, and the
        state's CSRF token)."""
        if is_account_state(state):
            return oauth_callback("google", state, code=code, error=error)
        return super().google_gmail_callback(code=code, state=state, error=error, **kwargs)
