# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crm_mail_sync_excluded_domains = fields.Char(
        string="Excluded Email Domains",
        config_parameter="crm_mail_sync.excluded_domains",
        help="Comma-separated domains: synced mail to or from them is neither linked to "
        "records nor shared with other users (e.g. your own company's domain).",
    )
