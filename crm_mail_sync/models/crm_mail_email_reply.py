# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Reply-time alerts: a customer waiting for an answer.

A live incoming email in a case or lead of a group mailbox with the alert on starts a
clock (``reply_due_at``, the mailbox's delay in working hours). Mail going out about
the same case or lead after it (synced from a Sent folder, sent from Odoo's
composer or posted on the record's chatter) stops the clock. A later incoming email
restarts it for the newest one: one clock, and one activity, per case or lead. The
scheduled action ``_cron_reply_alerts`` turns the clocks that ran out into an
activity for the record's assignee and marks the email and the case overdue.
"""

from collections import defaultdict

import pytz

from odoo import api, fields, models
from odoo.tools import SQL

# The records an unanswered email is an alert on, the first one found wins.
REPLY_ALERT_MODELS = ("crm.mail.case", "crm.lead")


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    reply_due_at = fields.Datetime(
        string="Reply Due",
        readonly=True,
        copy=False,
        # Only waiting emails have one: a small index, read by the scheduled action.
        index="btree_not_null",
        help="When this email must be answered by, in working hours of its mailbox's "
        "reply-time alert; empty once answered.",
    )
    is_reply_overdue = fields.Boolean(
        string="Reply Overdue",
        readonly=True,
        copy=False,
        help="Nobody answered this email by its deadline: an activity was scheduled on "
        "its case or lead.",
    )

    # ------------------------------------------------------------------
    # Starting the clock (import chain: crm.mail.gateway._start_reply_clocks)
    # ------------------------------------------------------------------

    def _start_reply_clocks(self, account):
        """Start the reply clock of the newest live incoming email of each case or
        lead among ``self`` (new emails of ``account``, a mailbox with the alert on);
        older waiting emails of those records stop waiting (not the overdue ones)."""
        candidates = self.filtered(lambda email: email._needs_reply())
        if not candidates:
            return self.browse()
        targets = candidates._reply_alert_targets()
        newest = {}
        for email in candidates.sorted(lambda e: (e.date or fields.Datetime.now(), e.id)):
            if email.id in targets:
                newest[targets[email.id]] = email
        if not newest:
            return self.browse()
        # Our answer may have been synced first (the Sent folder before the inbox).
        answered = self._reply_times(list(newest))
        newest = {
            record: email
            for record, email in newest.items()
            if not (record in answered and answered[record] >= email.date)
        }
        if not newest:
            return self.browse()
        # One clock per record: the newest email carries it (mail synced out of order,
        # older than the one waiting, starts none).
        waiting = self._reply_emails_of(list(newest), [("is_reply_overdue", "=", False)])
        waiting_targets = waiting._reply_alert_targets()
        latest = {}
        for email in waiting:
            record = waiting_targets.get(email.id)
            latest[record] = max(latest.get(record, email.date), email.date)
        newest = {
            record: email
            for record, email in newest.items()
            if not (record in latest and latest[record] > email.date)
        }
        if not newest:
            return self.browse()
        waiting.filtered(lambda email: waiting_targets.get(email.id) in newest).write(
            {"reply_due_at": False}
        )
        started = self.browse([email.id for email in newest.values()])
        deadlines = account._reply_deadlines(
            [email.date or fields.Datetime.now() for email in started]
        )
        by_deadline = defaultdict(list)
        for email, deadline in zip(started, deadlines, strict=True):
            by_deadline[deadline].append(email.id)
        for deadline, ids in by_deadline.items():
            self.browse(ids).write({"reply_due_at": deadline})
        return started

    def _needs_reply(self):
        """Hook: whether this new email waits for an answer: live customer mail, not
        from a robot, and linked to records."""
        self.ensure_one()
        return (
            self.direction == "incoming"
            and self.import_mode == "live"
            and not self.is_auto_submitted
            and not self.no_link
        )

    def _reply_alert_targets(self):
        """Map the ids of ``self`` to the record their alert goes on, as
        ``(model, id)``: their open case, else the newest open lead they are linked
        to (a case closed as converted goes on in its lead); none for a closed case."""
        result = {}
        links = (
            self.env["crm.mail.email.link"]
            .sudo()
            .search(
                [("email_id", "in", self.ids), ("res_model", "in", list(REPLY_ALERT_MODELS))],
                order="res_id desc",
            )
        )
        leads = (
            self.env["crm.lead"]
            .sudo()
            .browse(links.filtered(lambda link: link.res_model == "crm.lead").mapped("res_id"))
        )
        open_leads = set(leads.exists().filtered("active").ids)
        by_email = defaultdict(dict)
        for link in links:
            if link.res_model == "crm.lead" and link.res_id not in open_leads:
                continue
            by_email[link.email_id.id].setdefault(link.res_model, link.res_id)
        for email in self:
            if email.case_id and not email.case_id.is_closed:
                result[email.id] = ("crm.mail.case", email.case_id.id)
                continue
            if email.case_id and not email.case_id.lead_id:
                continue  # a closed case waits for nothing; a converted one, its lead
            for model in REPLY_ALERT_MODELS:
                if model in by_email.get(email.id, {}):
                    result[email.id] = (model, by_email[email.id][model])
                    break
        return result

    @api.model
    def _reply_record_condition(self, records, alias="link"):
        """SQL: the link ``alias`` points at one of ``records`` ((model, id) pairs)."""
        ids_by_model = defaultdict(list)
        for model, res_id in records:
            ids_by_model[model].append(res_id)
        return SQL(" OR ").join(
            SQL(
                "(%s = %s AND %s = ANY(%s))",
                SQL.identifier(alias, "res_model"),
                model,
                SQL.identifier(alias, "res_id"),
                ids,
            )
            for model, ids in ids_by_model.items()
        )

    @api.model
    def _reply_times(self, records):
        """Map each of ``records`` ((model, id) pairs) to the date of its latest
        outgoing email, for those that have one (one query)."""
        self.flush_model(["direction", "date"])
        self.env["crm.mail.email.link"].flush_model(["email_id", "res_model", "res_id"])
        self.env.cr.execute(
            SQL(
                """SELECT link.res_model, link.res_id, MAX(email.date)
                     FROM crm_mail_email_link link
                     JOIN crm_mail_email email ON email.id = link.email_id
                    WHERE email.direction = 'outgoing' AND (%s)
                 GROUP BY link.res_model, link.res_id""",
                self._reply_record_condition(records),
            )
        )
        return {(model, res_id): date for model, res_id, date in self.env.cr.fetchall()}

    @api.model
    def _reply_emails_of(self, records, domain=()):
        """The emails with a running or overdue clock linked to ``records`` (as
        superuser)."""
        if not records:
            return self.sudo().browse()
        self.flush_model(["reply_due_at", "case_id"])
        self.env["crm.mail.email.link"].flush_model(["email_id", "res_model", "res_id"])
        cases = [res_id for model, res_id in records if model == "crm.mail.case"]
        query = SQL(
            """(SELECT link.email_id FROM crm_mail_email_link link WHERE %s
                UNION SELECT id FROM crm_mail_email WHERE case_id = ANY(%s))""",
            self._reply_record_condition(records),
            cases,
        )
        # sudo: whoever answers a case or lead stops its clocks, reader of its emails
        # or not; the caller gets system records, for the alerts' bookkeeping only.
        return self.sudo().search([("reply_due_at", "!=", False), ("id", "in", query), *domain])

    # ------------------------------------------------------------------
    # Stopping the clock
    # ------------------------------------------------------------------

    @api.model
    def _reply_clocks_running(self):
        """Whether any email waits for an answer: one look at a small index."""
        self.flush_model(["reply_due_at"])
        self.env.cr.execute("SELECT 1 FROM crm_mail_email WHERE reply_due_at IS NOT NULL LIMIT 1")
        return bool(self.env.cr.fetchone())

    def _stop_reply_clocks(self):
        """Outgoing emails of ``self`` answer the mail waiting in their cases and leads
        that came before them."""
        outgoing = self.filtered(lambda email: email.direction == "outgoing")
        if not outgoing or not self._reply_clocks_running():
            return self.browse()
        self.env["crm.mail.email.link"].flush_model(["email_id", "res_model", "res_id"])
        self.env.cr.execute(
            """SELECT link.res_model, link.res_id, MAX(email.date)
                 FROM crm_mail_email_link link
                 JOIN crm_mail_email email ON email.id = link.email_id
                WHERE link.email_id = ANY(%s) AND link.res_model = ANY(%s)
             GROUP BY link.res_model, link.res_id""",
            (outgoing.ids, list(REPLY_ALERT_MODELS)),
        )
        replies = {(model, res_id): date for model, res_id, date in self.env.cr.fetchall()}
        for email in outgoing.filtered("case_id"):
            key = ("crm.mail.case", email.case_id.id)
            replies[key] = max(replies.get(key) or email.date, email.date)
        return self._reply_answered(replies)

    @api.model
    def _reply_answered(self, replies):
        """Stop the clocks of the mail ``replies`` answer, and cancel their activities.

        :param dict replies: ``(model, id)`` -> when a reply went out about that record;
            the emails linked to it that came before then no longer wait
        :return: the emails answered
        """
        replies = {record: when for record, when in replies.items() if when}
        if not replies or not self._reply_clocks_running():
            return self.browse()
        waiting = self._reply_emails_of(list(replies)).sudo()
        if not waiting:
            return self.browse()
        records_of = defaultdict(set)
        for link in waiting.link_ids:
            records_of[link.email_id.id].add((link.res_model, link.res_id))
        for email in waiting.filtered("case_id"):
            records_of[email.id].add(("crm.mail.case", email.case_id.id))
        answered = waiting.filtered(
            lambda email: any(
                replies.get(record) and replies[record] >= (email.date or replies[record])
                for record in records_of[email.id]
            )
        )
        if not answered:
            return self.browse()
        targets = answered._reply_alert_targets()
        answered.write({"reply_due_at": False, "is_reply_overdue": False})
        self._reply_settle(set(targets.values()) | set(replies))
        return answered.with_env(self.env)

    @api.model
    def _reply_cases_closed(self, cases):
        """Closed ``cases`` stop the clocks of their emails and lose their alerts."""
        records = [("crm.mail.case", case_id) for case_id in cases.ids]
        # An overdue email keeps its deadline: no clock running, no alert either.
        if not records or not self._reply_clocks_running():
            return self.browse()
        waiting = self._reply_emails_of(records)
        waiting.write({"reply_due_at": False, "is_reply_overdue": False})
        self._reply_settle(records)
        return waiting.with_env(self.env)

    @api.model
    def _reply_settle(self, records):
        """Records of ``records`` where no email is overdue any more lose their alert:
        the activity is removed (the reply is in the chatter) and the case its mark."""
        records = [(model, res_id) for model, res_id in records if model in REPLY_ALERT_MODELS]
        if not records:
            return
        still = set(
            self._reply_emails_of(records, [("is_reply_overdue", "=", True)])
            ._reply_alert_targets()
            .values()
        )
        settled = [record for record in records if record not in still]
        if not settled:
            return
        # sudo: the alerts are the system's own, whoever sent the reply.
        self._reply_activities(settled).sudo().unlink()
        cases = (
            self.env["crm.mail.case"]
            .sudo()
            .browse([res_id for model, res_id in settled if model == "crm.mail.case"])
        )
        cases.filtered("is_reply_overdue").write({"is_reply_overdue": False})

    @api.model
    def _reply_activities(self, records):
        """The open reply-time activities on ``records`` ((model, id) pairs)."""
        activity_type = self.env.ref(
            "crm_mail_sync.mail_activity_type_reply_alert", raise_if_not_found=False
        )
        Activity = self.env["mail.activity"].sudo()
        if not activity_type or not records:
            return Activity
        ids_by_model = defaultdict(list)
        for model, res_id in records:
            ids_by_model[model].append(res_id)
        domain = ["|"] * (len(ids_by_model) - 1)
        for model, ids in ids_by_model.items():
            domain += ["&", ("res_model", "=", model), ("res_id", "in", ids)]
        return Activity.search([("activity_type_id", "=", activity_type.id), *domain])

    # ------------------------------------------------------------------
    # The scheduled action
    # ------------------------------------------------------------------

    @api.model
    def _cron_reply_alerts(self, now=None):
        """Emails whose reply is due by ``now`` (default: now) become overdue; each
        case or lead of them gets one activity for its assignee, unless it has one.

        :return: the activities scheduled
        """
        # sudo: the alerts are the system's; emails, cases and leads of every team.
        Email = self.sudo()
        now = now or fields.Datetime.now()
        due = Email.search(
            [("reply_due_at", "<=", now), ("is_reply_overdue", "=", False)],
            order="date, id",
        )
        Activity = self.env["mail.activity"].sudo()
        if not due:
            return Activity
        targets = due._reply_alert_targets()
        # Mail whose record went (a lead deleted, an email unlinked), or whose mailbox
        # no longer has the alert on, waits for nothing.
        gone = due.filtered(
            lambda email: (
                email.id not in targets
                or not email.account_ids.filtered(
                    lambda account: account.reply_alert and account.account_type == "group"
                )
            )
        )
        gone.write({"reply_due_at": False})
        due -= gone
        due.write({"is_reply_overdue": True})
        newest = {}
        for email in due:
            newest[targets[email.id]] = email
        cases = (
            self.env["crm.mail.case"]
            .sudo()
            .browse([res_id for model, res_id in newest if model == "crm.mail.case"])
        )
        cases.filtered(lambda case: not case.is_reply_overdue).write({"is_reply_overdue": True})
        alerted = {
            (activity.res_model, activity.res_id)
            for activity in self._reply_activities(list(newest))
        }
        vals_list = []
        for (model, res_id), email in newest.items():
            if (model, res_id) in alerted:
                continue
            record = self.env[model].sudo().browse(res_id)
            vals = email._prepare_reply_activity_values(record)
            if vals:
                vals_list.append(vals)
        return Activity.create(vals_list) if vals_list else Activity

    def _reply_alert_user(self, record):
        """Hook: who answers ``record``: its assignee, else its team's leader, else
        the leader of the mailbox's first team; an empty ``res.users`` for nobody."""
        self.ensure_one()
        user = record.user_id or record.team_id.user_id
        if not user:
            accounts = self.account_ids.filtered(lambda account: account.reply_alert)
            user = accounts.team_ids[:1].user_id
        return user

    def _prepare_reply_activity_values(self, record):
        """Hook: the ``create`` values of the activity for this overdue email on
        ``record`` (its case or lead), or None to schedule none."""
        self.ensure_one()
        user = self._reply_alert_user(record)
        if not user:
            return None
        activity_type = self.env.ref("crm_mail_sync.mail_activity_type_reply_alert")
        if self.is_private:
            # The activity is seen by whoever sees the record: a private email's
            # sender and subject stay in the archive.
            summary = self.env._("Reply to a customer's email")
        else:
            summary = self.env._(
                "Reply to %(sender)s: %(subject)s",
                sender=self.email_from or self.from_address or "?",
                subject=self.subject or self.env._("(no subject)"),
            )
        deadline = pytz.utc.localize(self.reply_due_at).astimezone(pytz.timezone(user.tz or "UTC"))
        return {
            "activity_type_id": activity_type.id,
            "summary": summary[:200],
            "date_deadline": deadline.date(),
            "res_model_id": self.env["ir.model"]._get_id(record._name),
            "res_id": record.id,
            "user_id": user.id,
            "automated": True,
        }
