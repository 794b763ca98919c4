# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Reply-time alerts of a group mailbox: "answer within N working hours"."""

from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib.working_hours import add_working_hours


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    reply_alert = fields.Boolean(
        string="Reply-Time Alert",
        help="A customer's live email in a case or lead of this group mailbox that gets "
        "no reply within the delay below schedules an activity for the case's or "
        "lead's assignee (the team leader when unassigned) and shows as overdue. A "
        "reply sent from Odoo or synced from the Sent folder stops the clock.",
    )
    reply_alert_hours = fields.Float(
        string="Answer Within (working hours)",
        default=8.0,
        help="Working hours of the company's working schedule (Settings > Working "
        "Schedules): a delay of 8 from Friday 16:00 on a 9-to-5 schedule ends on "
        "Monday at 16:00.",
    )

    @api.constrains("reply_alert", "reply_alert_hours")
    def _check_reply_alert_hours(self):
        for account in self.filtered("reply_alert"):
            if account.reply_alert_hours <= 0:
                raise ValidationError(
                    self.env._(
                        "%(account)s: the reply-time alert needs a delay of more than "
                        "zero working hours (it is %(hours)s).",
                        account=account.display_name,
                        hours=account.reply_alert_hours,
                    )
                )

    def _reply_alert_calendar(self):
        """Hook: the working schedule the delay is counted in: the company's (the
        mailbox's company when it has one); none counts every hour."""
        self.ensure_one()
        company = self["company_id"] if "company_id" in self._fields else None
        return (company or self.env.company).resource_calendar_id

    def _reply_deadlines(self, starts):
        """The deadlines of replies to mail received at ``starts``, in one pass.

        :param list starts: naive UTC datetimes (the emails' dates)
        :return: list of naive UTC datetimes, in the same order
        """
        self.ensure_one()
        hours = self.reply_alert_hours
        calendar = self._reply_alert_calendar()
        if not starts:
            return []
        if not calendar:
            return [start + timedelta(hours=hours) for start in starts]
        # The working periods of the whole batch at once (attendances less the
        # company's public holidays), with room for the delay and a few weeks off.
        first = pytz.utc.localize(min(starts))
        last = pytz.utc.localize(max(starts)) + timedelta(days=14 + 7 * int(hours // 8 + 1))
        periods = [
            (begin, end) for begin, end, _meta in calendar._work_intervals_batch(first, last)[False]
        ]
        deadlines = []
        for start in starts:
            aware = pytz.utc.localize(start)
            deadline = add_working_hours(periods, aware, hours)
            if deadline is None:
                # Beyond the periods read (a long delay, long holidays): Odoo's own,
                # one email at a time.
                deadline = calendar.plan_hours(hours, aware, compute_leaves=True)
            deadlines.append(
                deadline.astimezone(pytz.utc).replace(tzinfo=None)
                if deadline
                else start + timedelta(hours=hours)
            )
        return deadlines
