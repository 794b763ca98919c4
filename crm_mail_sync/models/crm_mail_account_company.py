# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Several companies: a mailbox belongs to one company, and everything it stores
(emails, cases) belongs to that company too, whoever runs the sync."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
        help="The company this mailbox belongs to: its emails and cases are that "
        "company's, and only users working in that company see them. Its teams must "
        "be of the same company (or of none).",
    )

    def _company_teams(self):
        """Hook: the sales teams this mailbox hands its mail to, which must be of its
        company. Inheriting modules add theirs."""
        self.ensure_one()
        return self.team_ids | self.case_team_id | self.lead_team_id

    @api.constrains(
        "company_id", "team_ids", "case_team_id", "lead_team_id", "user_id", "account_type"
    )
    def _check_company_consistency(self):
        for account in self:
            company = account.company_id
            foreign = account._company_teams().filtered(
                lambda team, company=company: team.company_id and team.company_id != company
            )
            if foreign:
                raise ValidationError(
                    self.env._(
                        "The mailbox %(mailbox)s belongs to %(company)s, but its team "
                        "%(team)s belongs to %(other)s: choose a team of %(company)s (or "
                        "of no company), or move the mailbox to %(other)s.",
                        mailbox=account.display_name,
                        company=company.display_name,
                        team=foreign[0].display_name,
                        other=foreign[0].company_id.display_name,
                    )
                )
            user = account.user_id
            if account.account_type == "personal" and user and company not in user.company_ids:
                raise ValidationError(
                    self.env._(
                        "The personal mailbox %(mailbox)s belongs to %(company)s, where "
                        "its owner %(user)s does not work: choose one of the owner's "
                        "companies.",
                        mailbox=account.display_name,
                        company=company.display_name,
                        user=user.display_name,
                    )
                )
