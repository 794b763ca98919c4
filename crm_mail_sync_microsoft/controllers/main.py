# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import http

from odoo.addons.crm_mail_sync.controllers.oauth import is_account_state, oauth_callback
from odoo.addons.microsoft_outlook.controllers.main import MicrosoftOutlookController


class CrmMailMicrosoftController(MicrosoftOutlookController):
    @http.route()
    def microsoft_outlook_callback(self, code=None, state=None, error_description=None, **kwargs):
        """Odoo's Outlook callback, also for the mail accounts of users who are not
        administrators (checked by crm_mail_sync: who may edit the account, and the
        state's CSRF token)."""
        if is_account_state(state):
            error = kwargs.get("error") or error_description
            return oauth_callback("microsoft", state, code=code, error=error)
        return super().microsoft_outlook_callback(
            code=code, state=state, error_description=error_description, **kwargs
        )
