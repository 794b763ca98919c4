# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "CRM Mail Sync",
    "summary": "Sync group and personal IMAP/POP3 mailboxes into a de-duplicated "
    "email archive linked to CRM records",
    "version": "18.0.1.5.0",
    "category": "Sales/CRM",
    "author": "CRM Mail Sync contributors",
    "license": "LGPL-3",
    "development_status": "Beta",
    "application": True,
    "installable": True,
    "depends": ["mail", "crm", "resource"],
    "external_dependencies": {"python": ["imapclient"]},
    "data": [
        "security/groups.xml",
        "security/ir.model.access.csv",
        "security/rules.xml",
        "data/ir_cron.xml",
        "data/ir_config_parameter.xml",
        "data/crm_mail_case_data.xml",
        "data/mail_template_data.xml",
        "data/mail_activity_type_data.xml",
        # Wizards first: views/crm_mail_erasure_views.xml opens the forget-address
        # wizard's action, and views/menus.xml the composer's.
        "wizards/crm_mail_link_wizard_views.xml",
        "wizards/mail_compose_message_views.xml",
        "wizards/crm_mail_attachment_wizard_views.xml",
        "wizards/crm_mail_forget_address_wizard_views.xml",
        "wizards/crm_mail_lead_wizard_views.xml",
        "views/crm_mail_folder_views.xml",
        "views/crm_mail_email_views.xml",
        "views/crm_mail_conversation_views.xml",
        "views/crm_mail_quarantine_views.xml",
        "views/crm_mail_erasure_views.xml",
        "views/crm_mail_case_views.xml",
        "views/crm_mail_filter_views.xml",
        "views/crm_mail_account_views.xml",
        "views/crm_mail_draft_views.xml",
        "views/res_partner_views.xml",
        "views/crm_lead_views.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "crm_mail_sync/static/src/scss/crm_mail_email_list.scss",
        ],
        "web.assets_tests": [
            "crm_mail_sync/static/tests/tours/*.js",
        ],
    },
    "demo": [
        "demo/crm_mail_account_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/crm_lead_demo.xml",
    ],
}
