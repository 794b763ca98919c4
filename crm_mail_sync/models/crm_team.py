# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models
from odoo.osv import expression


class CrmTeam(models.Model):
    _inherit = "crm.team"

    @api.constrains("company_id")
    def _check_crm_mail_accounts_company(self):
        """A team moved to another company must not leave a mailbox of the first
        one handing its mail to it (see crm.mail.account._check_company_consistency)."""
        teams = self.filtered("company_id")
        if not teams:
            return
        # sudo: every company's mailboxes count, whatever the user may read.
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .with_context(active_test=False)
            .search(
                expression.OR(
                    [
                        [(name, "in", teams.ids)]
                        for name in ("team_ids", "case_team_id", "lead_team_id")
                    ]
                )
            )
        )
        accounts._check_company_consistency()
