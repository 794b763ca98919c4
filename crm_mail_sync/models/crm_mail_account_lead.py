# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Leads from a group mailbox: the settings of the leads and opportunities that the
first emails of new conversations open when 'New Conversations' is 'Lead /
Opportunity' (the import step is ``crm.lead._crm_mail_process_emails``)."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    lead_team_id = fields.Many2one(
        "crm.team",
        string="Sales Team of Leads",
        help="Sales team of the new leads and opportunities (default: the mailbox's "
        "first team). Its company is theirs.",
    )
    lead_type = fields.Selection(
        [("lead", "Lead"), ("opportunity", "Opportunity")],
        string="Create As",
        default="lead",
        required=True,
        help="Lead: a request to qualify before it goes into the pipeline. Opportunity: "
        "straight into the team's pipeline. Without the CRM setting 'Leads', "
        "opportunities are created.",
    )
    lead_assignment = fields.Selection(
        [
            ("crm", "Sales team rules"),
            ("direct", "Direct"),
            ("round_robin", "Round-robin"),
            ("least_busy", "Least busy"),
        ],
        default="crm",
        required=True,
        help="Who gets a new lead or opportunity.\n"
        "Sales team rules: Odoo's rule-based assignment (CRM settings): the team's "
        "salespersons by their capacity and assignment domain; while that setting is "
        "off, or nobody has capacity left today, the lead waits in the team unassigned, "
        "as the leads of Odoo's own email aliases do.\n"
        "Direct: always the chosen salesperson. Round-robin: the team's salespersons in "
        "turn. Least busy: the salesperson with the fewest open leads and opportunities.",
    )
    lead_user_id = fields.Many2one(
        "res.users",
        string="Salesperson",
        domain=[("share", "=", False)],
        help="The salesperson of every new lead (Direct assignment).",
    )
    crm_use_leads = fields.Boolean(
        string="Leads Enabled",
        compute="_compute_crm_use_leads",
        help="The CRM setting 'Leads' is on: leads can be created, not only opportunities.",
    )

    @api.constrains("conversation_action", "lead_assignment", "lead_user_id")
    def _check_lead_assignment(self):
        for account in self:
            if account.lead_user_id.share:
                raise ValidationError(
                    self.env._(
                        "%(user)s is a portal user: the salesperson of the mailbox "
                        "%(mailbox)s's leads must be an internal user.",
                        user=account.lead_user_id.display_name,
                        mailbox=account.display_name,
                    )
                )
            if (
                account.conversation_action == "lead"
                and account.lead_assignment == "direct"
                and not account.lead_user_id
            ):
                raise ValidationError(
                    self.env._(
                        "The mailbox %s gives its new leads to one salesperson (Direct): "
                        "choose the salesperson.",
                        account.display_name,
                    )
                )

    def _compute_crm_use_leads(self):
        self.crm_use_leads = self._crm_uses_leads()

    @api.model
    def _crm_uses_leads(self):
        """Whether the CRM works with leads (its setting 'Leads' gives every employee
        the group ``crm.group_use_lead``), whoever runs the sync."""
        group = self.env.ref("crm.group_use_lead", raise_if_not_found=False)
        # sudo: a setting (the groups implied for employees), read by the sync as anyone.
        employee = self.env.ref("base.group_user").sudo()
        return bool(group) and group in employee.trans_implied_ids

    def _get_lead_team(self):
        """Hook: the sales team of the leads this mailbox opens."""
        self.ensure_one()
        return self.lead_team_id or self.team_ids[:1]

    def _get_lead_company(self):
        """Hook: the company of the leads this mailbox opens: its sales team's, else
        the mailbox's."""
        self.ensure_one()
        return self._get_lead_team().company_id or self.company_id

    def _get_lead_type(self):
        """Hook: what this mailbox opens, ``lead`` or ``opportunity`` (always an
        opportunity when the CRM does not work with leads)."""
        self.ensure_one()
        if self.lead_type == "lead" and self._crm_uses_leads():
            return "lead"
        return "opportunity"
