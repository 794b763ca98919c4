# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "CRM Mail Sync: Google OAuth",
    "summary": "Gmail and Google Workspace mailboxes sign in with Google OAuth (XOAUTH2) "
    "for IMAP, POP3 and SMTP, through Odoo's own Gmail module",
    "version": "18.0.1.0.0",
    "category": "Hidden",
    "author": "CRM Mail Sync contributors",
    "license": "LGPL-3",
    "development_status": "Beta",
    "depends": ["crm_mail_sync", "google_gmail"],
    # Installed with crm_mail_sync, and pulls Odoo's google_gmail in.
    "auto_install": ["crm_mail_sync"],
    "data": ["views/crm_mail_account_views.xml"],
    "assets": {
        "web.assets_tests": [
            "crm_mail_sync_google/static/tests/tours/*.js",
        ],
    },
    "installable": True,
}
