# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "CRM Mail Sync",
    "summary": "Sync group and personal IMAP/POP3 mailboxes into a de-duplicated "
    "email archive linked to CRM records",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-sync/crm_mail_sync",
    "author": "crm_mail_sync developers",
    "license": "LGPL-3",
    "application": True,
    "installable": True,
    "depends": ["mail", "crm"],
    "external_dependencies": {"python": []},
    "data": [
        "security/groups.xml",
        "security/ir.model.access.csv",
        "security/rules.xml",
        "data/ir_cron.xml",
        "data/ir_config_parameter.xml",
        "views/crm_mail_folder_views.xml",
        "views/crm_mail_email_views.xml",
        "views/crm_mail_quarantine_views.xml",
        "views/crm_mail_account_views.xml",
        "views/crm_mail_link_wizard_views.xml",
        "views/res_partner_views.xml",
        "views/crm_lead_views.xml",
        "views/menus.xml",
    ],
    "demo": [
        "demo/crm_mail_account_demo.xml",
    ],
}
