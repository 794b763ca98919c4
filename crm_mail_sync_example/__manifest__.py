# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "CRM Mail Sync: extension examples",
    "summary": "The examples of CRM Mail Sync's EXTENDING section, as a partner's module: "
    "a linkable model, a filter action, a login method",
    "version": "18.0.1.0.0",
    "category": "Hidden",
    "author": "CRM Mail Sync contributors",
    "license": "LGPL-3",
    "development_status": "Beta",
    "depends": ["crm_mail_sync"],
    "data": ["security/ir.model.access.csv", "views/crm_mail_account_views.xml"],
    "installable": True,
}
