# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "CRM Mail Sync: Microsoft OAuth",
    "summary": "Microsoft 365 and Outlook.com mailboxes sign in with Microsoft OAuth "
    "(XOAUTH2) for IMAP, POP3 and SMTP, through Odoo's own Outlook module",
    "version": "18.0.1.0.0",
    "category": "Hidden",
    "author": "CRM Mail Sync contributors",
    "license": "LGPL-3",
    "development_status": "Beta",
    "depends": ["crm_mail_sync", "microsoft_outlook"],
    # Installed with crm_mail_sync, and pulls Odoo's microsoft_outlook in.
    "auto_install": ["crm_mail_sync"],
    "data": ["views/crm_mail_account_views.xml"],
    "installable": True,
}
