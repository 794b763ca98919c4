# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib.addresses import address_list
from ..lib.filters import FilterRule, rule_matches

SCOPE_ORDER = {"global": 0, "account": 1, "user": 2}


class CrmMailFilter(models.Model):
    _name = "crm.mail.filter"
    _description = "Email Filter"
    _order = "scope_order, sequence, id"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    scope = fields.Selection(
        [("global", "Global"), ("account", "Mail account"), ("user", "User")],
        required=True,
        default="user",
        help="Global: every account (administrators). Mail account: one account. "
        "User: all the personal accounts of one user.",
    )
    scope_order = fields.Integer(compute="_compute_scope_order", store=True)
    sequence = fields.Integer(default=10, help="Order within the scope.")
    account_id = fields.Many2one("crm.mail.account", ondelete="cascade", index=True)
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        index=True,
        help="Empty: the filter applies to the mailboxes of every company. A filter of "
        "a mailbox takes the mailbox's company.",
    )
    user_id = fields.Many2one(
        "res.users", ondelete="cascade", index=True, default=lambda self: self.env.user
    )
    from_pattern = fields.Char(
        string="From",
        help="Addresses or domains, comma separated; * is a wildcard: alice@example.com, "
        "*@example.com, example.com, *.example.com.",
    )
    to_contains = fields.Char(string="To/Cc Contains")
    subject_contains = fields.Char()
    body_contains = fields.Char()
    action = fields.Selection(
        [
            ("skip", "Skip (do not import)"),
            ("move", "Move to folder"),
            ("mark_read", "Mark as read"),
            ("no_link", "Do not link"),
            ("no_notify", "Do not notify"),
        ],
        required=True,
        default="skip",
    )
    folder_id = fields.Many2one("crm.mail.inbox.folder")
    match_count = fields.Integer(readonly=True, string="Matches in the Last Test")
    preview_count = fields.Integer(
        compute="_compute_preview_count",
        string="Would Match",
        help="How many of the last 200 emails of the scope these conditions match, "
        "updated as you type, before saving.",
    )

    @api.depends(
        "scope",
        "account_id",
        "user_id",
        "from_pattern",
        "to_contains",
        "subject_contains",
        "body_contains",
    )
    def _compute_preview_count(self):
        for rule in self:
            if not any(
                (rule.from_pattern, rule.to_contains, rule.subject_contains, rule.body_contains)
            ):
                rule.preview_count = 0
                continue
            rule.preview_count = len(rule._test_matches())

    @api.depends("account_id")
    def _compute_company_id(self):
        for rule in self:
            rule.company_id = rule.account_id.company_id or rule.company_id

    @api.depends("scope")
    def _compute_scope_order(self):
        for rule in self:
            rule.scope_order = SCOPE_ORDER.get(rule.scope, 9)

    @api.constrains(
        "scope",
        "account_id",
        "company_id",
        "user_id",
        "action",
        "folder_id",
        "from_pattern",
        "to_contains",
        "subject_contains",
        "body_contains",
    )
    def _check_filter(self):
        for rule in self:
            if not any(
                (rule.from_pattern, rule.to_contains, rule.subject_contains, rule.body_contains)
            ):
                raise ValidationError(self.env._("Fill in at least one condition."))
            if rule.scope == "account" and not rule.account_id:
                raise ValidationError(self.env._("An account filter needs its account."))
            if rule.account_id and rule.company_id != rule.account_id.company_id:
                raise ValidationError(
                    self.env._(
                        "The filter %(filter)s of %(mailbox)s belongs to its mailbox's "
                        "company, %(company)s.",
                        filter=rule.name,
                        mailbox=rule.account_id.display_name,
                        company=rule.account_id.company_id.display_name,
                    )
                )
            if rule.scope == "user" and not rule.user_id:
                raise ValidationError(self.env._("A user filter needs its user."))
            if rule.action == "move" and not rule.folder_id:
                raise ValidationError(self.env._("Choose the folder to move the emails to."))

    def _to_rule(self):
        self.ensure_one()
        return FilterRule(
            id=self.id or 0,
            from_pattern=self.from_pattern or "",
            to_contains=self.to_contains or "",
            subject_contains=self.subject_contains or "",
            body_contains=self.body_contains or "",
        )

    @api.model
    def _rules_for(self, account):
        """The filters a message of ``account`` meets, in the order they apply."""
        domain = [
            ("company_id", "in", [False, account.company_id.id]),
            "|",
            "|",
            ("scope", "=", "global"),
            "&",
            ("scope", "=", "account"),
            ("account_id", "=", account.id),
            "&",
            ("scope", "=", "user"),
            ("user_id", "in", account._owners().ids),
        ]
        # sudo: the sync applies everyone's filters, whoever triggers it.
        return self.sudo().search(domain)

    @api.model
    def _filter_items(self, account, items):
        """Apply the filters of ``account`` to the batch items (``lib.batch.BatchItem``).

        Matching is plain Python (``lib.filters``) on rules read once for the batch;
        each matching filter's action is a method ``_action_<action>`` of the filter,
        which records its effect on the item (``item.filter``) and returns False to
        stop the evaluation (skip does). An inheriting module adds an action with a
        selection value and one such method.
        """
        rules = [(rule, rule._to_rule()) for rule in self._rules_for(account)]
        if not rules:
            return items
        for item in items:
            message = self._message_of_item(item)
            for rule, plain in rules:
                if not rule_matches(plain, message):
                    continue
                item.filter.matched += (rule.id,)
                if getattr(rule, f"_action_{rule.action}")(item) is False:
                    break
        return items

    @staticmethod
    def _message_of_item(item):
        parsed = item.parsed
        return {
            "from_address": parsed.from_address,
            "recipients": parsed.recipients,
            "subject": parsed.subject,
            "body": parsed.body_text,
        }

    # ------------------------------------------------------------------
    # Actions: what a matching filter does to a message
    # ------------------------------------------------------------------

    def _action_skip(self, item):
        """Not imported (and, over POP3, never fetched again); ends the evaluation."""
        item.filter.skip = True
        item.skip_reason = self.env._("Skipped by a filter")
        return False

    def _action_move(self, item):
        """Filed in a CRM inbox folder (the first move wins)."""
        if item.filter.folder_id is None:
            item.filter.folder_id = self.folder_id.id
        return True

    def _action_mark_read(self, item):
        item.filter.mark_read = True
        return True

    def _action_no_link(self, item):
        item.filter.no_link = True
        return True

    def _action_no_notify(self, item):
        item.filter.no_notify = True
        return True

    @staticmethod
    def _message_of_email(email):
        return {
            "from_address": email.from_address or "",
            "recipients": address_list("", email.recipient_addresses),
            "subject": email.subject or "",
            "body": email.body_text or "",
        }

    def action_test_filter(self):
        """Run the filter on the last 200 emails of its scope; show those it matches."""
        self.ensure_one()
        matched = self._test_matches()
        self.match_count = len(matched)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Emails matching %s", self.name),
            "res_model": "crm.mail.email",
            "view_mode": "list,form",
            "domain": [("id", "in", matched.ids)],
            "target": "current",
        }

    def _test_matches(self):
        """The emails among the last 200 of the scope that this filter matches."""
        self.ensure_one()
        domain = []
        if self.scope == "account":
            domain = [("account_ids", "in", self.account_id.ids)]
        elif self.scope == "user":
            domain = [
                ("account_ids", "any", self.env["crm.mail.account"]._owned_by_domain(self.user_id))
            ]
        emails = self.env["crm.mail.email"].search(domain, limit=200, order="date desc, id desc")
        rule = self._to_rule()
        return emails.filtered(lambda email: rule_matches(rule, self._message_of_email(email)))
