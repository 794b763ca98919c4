# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import re

from odoo import api, fields, models

from ..lib.assignment import Turn, least_busy, round_robin

CASE_REFERENCE = re.compile(r"\[(CASE-\d+)\]")


class CrmMailCase(models.Model):
    _name = "crm.mail.case"
    _description = "Case"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "priority desc, id desc"

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default="New", index=True
    )
    subject = fields.Char(required=True, tracking=True)
    partner_id = fields.Many2one("res.partner", string="Customer", tracking=True, index=True)
    account_id = fields.Many2one(
        "crm.mail.account",
        string="Mailbox",
        readonly=True,
        index=True,
        help="The group mailbox the case came in through; replies leave from it.",
    )
    team_id = fields.Many2one("crm.team", tracking=True, index=True)
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        index=True,
        help="The company of the mailbox the case came in through (else of its team): "
        "only users working in that company see the case.",
    )
    user_id = fields.Many2one("res.users", string="Assigned To", tracking=True, index=True)
    stage_id = fields.Many2one(
        "crm.mail.case.stage",
        tracking=True,
        index=True,
        group_expand="_read_group_stage_ids",
        default=lambda self: self.env["crm.mail.case.stage"].search([], limit=1),
    )
    is_closed = fields.Boolean(related="stage_id.is_closed", store=True)
    priority = fields.Selection(
        [("0", "Normal"), ("1", "Important"), ("2", "Urgent"), ("3", "Critical")],
        default="0",
    )
    email_ids = fields.One2many("crm.mail.email", "case_id", string="Emails")
    email_count = fields.Integer(compute="_compute_email_count")
    active = fields.Boolean(default=True)
    lead_id = fields.Many2one(
        "crm.lead",
        string="Opportunity",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        tracking=True,
        help="The lead or opportunity this case was converted to; its emails are linked to it too.",
    )

    @api.depends("account_id", "team_id")
    def _compute_company_id(self):
        for case in self:
            case.company_id = (
                case.account_id.company_id
                or case.team_id.company_id
                or case.company_id
                or self.env.company
            )

    @api.depends("email_ids")
    def _compute_email_count(self):
        for case in self:
            case.email_count = len(case.email_ids)

    @api.model
    def _read_group_stage_ids(self, stages, domain):
        return stages.search([])

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "New") == "New":
                vals["name"] = self.env["ir.sequence"].next_by_code("crm.mail.case") or "New"
        return super().create(vals_list)

    @api.depends("name", "subject")
    def _compute_display_name(self):
        for case in self:
            case.display_name = f"[{case.name}] {case.subject or ''}".strip()

    def action_view_emails(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_sync.crm_mail_email_action"
        )
        action["domain"] = [("case_id", "=", self.id)]
        action["context"] = {}
        return action

    # ------------------------------------------------------------------
    # Conversion to an opportunity
    # ------------------------------------------------------------------

    def action_open_lead_wizard(self):
        """Button: convert this case to a new opportunity, or link it to an existing one."""
        self.ensure_one()
        self.check_access("write")
        self.env["crm.lead"].check_access("create")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Convert to Opportunity"),
            "res_model": "crm.mail.lead.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_case_id": self.id},
        }

    def action_open_lead(self):
        """Smart button: the opportunity this case was converted to."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.lead",
            "res_id": self.lead_id.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def _close_as_converted(self, lead):
        """Hook: record that this case went on as ``lead``, and close it.

        The case keeps its emails and history; it moves to the last closed stage
        (``_converted_stage``), and a customer's reply no longer reopens it (the
        conversation goes on in the opportunity, where the reply is linked too).
        """
        self.ensure_one()
        values = {"lead_id": lead.id}
        stage = self._converted_stage()
        if stage and not self.is_closed:
            values["stage_id"] = stage.id
        self.write(values)

    @api.model
    def _converted_stage(self):
        """Hook: the stage of a case converted to an opportunity (the last closed one)."""
        return self.env["crm.mail.case.stage"].search(
            [("is_closed", "=", True)], order="sequence desc, id desc", limit=1
        )

    # ------------------------------------------------------------------
    # Assignment
    # ------------------------------------------------------------------

    def _eligible_users(self):
        """Members of the case's team who can work on it, in a stable order (by id):
        active internal users with access to emails and cases.

        Members who opted out of automatic assignment on their membership of the
        team (``crm.team.member.assignment_optout``, as for CRM leads) are left out,
        the team leader too when they are such a member.
        """
        self.ensure_one()
        return self._crm_mail_team_candidates(self.team_id, "crm_mail_sync.group_crm_mail_user")

    def _assign_case_user(self):
        """Hook: pick and set each case's assignee following its mailbox's distribution.

        The mailbox's ``case_assignment`` value ``<name>`` names the strategy, the
        method ``_assign_<name>(candidates, turn)``: a module adds a distribution with
        a ``selection_add`` on that field and one such method. When the strategy read
        the turn, its choice is recorded as the new turn, under the lock that read took.
        A strategy finding nobody leaves the case as it is.

        :return: the cases' assignees (``res.users``)
        """
        for case in self:
            turn = Turn(case._assignment_turn)
            user = case._get_assignment_strategy()(case._eligible_users(), turn)
            if user:
                if turn.taken:
                    case._record_turn(user)
                case.user_id = user
        return self.user_id

    def _get_assignment_strategy(self):
        """The method choosing this case's assignee: ``_assign_<name>`` for the
        mailbox's distribution ``<name>``."""
        self.ensure_one()
        method = self.account_id.case_assignment or "round_robin"
        return getattr(self, f"_assign_{method}")

    def _assignment_turn(self):
        """The user id the mailbox assigned last (or None), read under a row lock.

        The lock on the mailbox's row is held until the transaction ends, so
        concurrent imports into the same mailbox take their turns one after the other
        and neither skip nor repeat one; the turn is in the database, so it survives
        restarts. Strategies read it through ``turn.last`` rather than directly.
        """
        self.ensure_one()
        return self._crm_mail_assignment_turn(self.account_id)

    def _record_turn(self, user):
        """Record ``user`` as the mailbox's last turn; call after ``_assignment_turn``."""
        self.ensure_one()
        self._crm_mail_record_turn(self.account_id, user)

    def _assign_direct(self, candidates, turn):
        """Strategy: always the mailbox's chosen user, eligible or not; no turn.

        Every ``_assign_<name>`` strategy is called on one case and returns the user
        to assign (an empty ``res.users`` for nobody); it only chooses.

        :param list candidates: eligible user ids, in their stable order
        :param turn: a ``lib.assignment.Turn``; reading ``turn.last`` takes
            the mailbox's turn, and the choice then becomes the new turn
        """
        return self.account_id.case_user_id

    def _assign_round_robin(self, candidates, turn):
        """Strategy: the candidate after the one whose turn it was last."""
        if not candidates:
            return self.env["res.users"]
        return self.env["res.users"].browse(round_robin(candidates, turn.last))

    def _assign_least_busy(self, candidates, turn):
        """Strategy: the candidate with the fewest open cases; ties go by turn."""
        if not candidates:
            return self.env["res.users"]
        last = turn.last
        groups = self._read_group(
            [("user_id", "in", candidates), ("is_closed", "=", False), ("id", "!=", self.id)],
            ["user_id"],
            ["__count"],
        )
        counts = {user.id: count for user, count in groups}
        return self.env["res.users"].browse(least_busy(candidates, counts, last))

    # ------------------------------------------------------------------
    # Mail through the group mailbox
    # ------------------------------------------------------------------

    def _notify_get_reply_to(self, default=None):
        # Answers go back to the shared mailbox, which syncs them onto the case.
        result = super()._notify_get_reply_to(default=default)
        for case in self.filtered("account_id"):
            result[case.id] = case.account_id._formatted_address()
        return result

    def message_post(self, **kwargs):
        """Messages to the customer leave from the group mailbox's address and server."""
        if len(self) == 1 and self.account_id:
            kwargs.setdefault("email_from", self.account_id._formatted_address())
            if self.account_id.smtp_server_id:
                kwargs.setdefault("mail_server_id", self.account_id.smtp_server_id.id)
        return super().message_post(**kwargs)

    def _send_auto_reply(self, email):
        """Queue the mailbox's auto-reply to the email that opened this case."""
        self.ensure_one()
        account = self.account_id
        template = account.auto_reply_template_id
        # sudo: the auto-reply is sent by the sync, on behalf of the mailbox.
        mail_id = template.sudo().send_mail(
            self.id,
            email_values={
                "email_from": account._formatted_address(),
                "reply_to": account._formatted_address(),
                "email_to": email.email_from,
                "recipient_ids": [],
                "mail_server_id": account.smtp_server_id.id,
                "references": email.message_id,
                "headers": repr(
                    {
                        "Auto-Submitted": "auto-replied",
                        "X-Auto-Response-Suppress": "All",
                        "In-Reply-To": email.message_id,
                    }
                ),
            },
        )
        self.env["crm.mail.auto.reply"].sudo().create(
            {
                "account_id": account.id,
                "address": email.from_address,
                "case_id": self.id,
                "email_id": email.id,
            }
        )
        return self.env["mail.mail"].sudo().browse(mail_id)

    def _reopen(self):
        """A customer's reply on a closed case brings it back to the first stage;
        not on a case converted to an opportunity, where the conversation goes on."""
        first = self.env["crm.mail.case.stage"].search([("is_closed", "=", False)], limit=1)
        self.filtered(lambda case: case.is_closed and not case.lead_id).write(
            {"stage_id": first.id}
        )
