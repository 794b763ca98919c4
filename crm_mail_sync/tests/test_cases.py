# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import inspect
import textwrap
from unittest.mock import patch

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, new_test_user, tagged
from odoo.tests.common import get_db_name
from odoo.tools import file_open, mute_logger

from odoo.addons.crm_mail_sync.lib.assignment import Turn, least_busy, round_robin

from .common import CrmMailSyncCase

STICKY = ("sticky", "Same agent as last time")


# The strategy of readme/EXTENDING.md, word for word (checked below): a module would
# define it on its own ``crm.mail.case``, the tests patch it onto the model's class.
def _assign_sticky(self, candidates, turn):
    """The agent of the customer's latest case while eligible, else the next in turn."""
    if self.partner_id:
        previous = self.search(
            [
                ("partner_id", "=", self.partner_id.id),
                ("user_id", "in", candidates),
                ("id", "!=", self.id),
            ],
            order="id desc",
            limit=1,
        )
        if previous:
            return previous.user_id
    return self._assign_round_robin(candidates, turn)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestAssignmentStrategies(BaseCase):
    def test_round_robin(self):
        self.assertEqual(round_robin([3, 5, 9], None), 3)
        self.assertEqual(round_robin([3, 5, 9], 5), 9)
        self.assertEqual(round_robin([3, 5, 9], 9), 3)
        self.assertEqual(round_robin([3, 5, 9], 4), 5)  # the last one left the team
        self.assertIsNone(round_robin([], 4))

    def test_least_busy(self):
        self.assertEqual(least_busy([3, 5, 9], {3: 2, 5: 1, 9: 4}), 5)
        self.assertEqual(least_busy([3, 5, 9], {3: 2, 5: 2, 9: 2}, last=3), 5)
        self.assertEqual(least_busy([3, 5, 9], {3: 2, 9: 1}), 5)  # zero open cases

    def test_turn_is_read_once_and_only_when_asked(self):
        reads = []

        def read():
            reads.append(True)
            return None  # nobody assigned yet is a turn read all the same

        turn = Turn(read)
        self.assertFalse(turn.taken)
        self.assertFalse(reads)
        self.assertIsNone(turn.last)
        self.assertIsNone(turn.last)
        self.assertTrue(turn.taken)
        self.assertEqual(len(reads), 1)

    def test_extending_example_is_the_tested_one(self):
        with file_open("crm_mail_sync/readme/EXTENDING.md") as handle:
            text = handle.read()
        self.assertIn("## A distribution strategy", text)
        self.assertIn('selection_add=[("%s", "%s")]' % STICKY, text)
        self.assertIn(textwrap.indent(inspect.getsource(_assign_sticky), "    "), text)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestCases(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agents = cls.env["res.users"]
        for index in range(3):
            cls.agents |= new_test_user(
                cls.env,
                login=f"agent{index}",
                email=f"agent{index}@ourcompany.example",
                groups="base.group_user,crm_mail_sync.group_crm_mail_team",
            )
        cls.team = cls.env["crm.team"].create(
            {"name": "Support", "member_ids": [(6, 0, cls.agents.ids)]}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carla Customer", "email": "carla@customer.example"}
        )
        cls.Case = cls.env["crm.mail.case"]

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("support")
        self.account = self.create_account(
            self.login,
            password,
            create_cases=True,
            team_ids=[(6, 0, self.team.ids)],
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)

    def deliver(self, **kw):
        kw.setdefault("sender", "carla@customer.example")
        raw = self.message(**kw)
        self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account)
        return self.Email.search(
            [("subject", "=", kw.get("subject", "Hello"))], limit=1, order="id desc"
        )

    def test_first_email_opens_a_case_and_the_reply_joins_it(self):
        first = self.deliver(subject="Printer broken", message_id="<t1@customer.example>")
        case = first.case_id
        self.assertTrue(case.name.startswith("CASE-"))
        self.assertEqual(case.subject, "Printer broken")
        self.assertEqual(case.partner_id, self.customer)
        self.assertEqual(case.team_id, self.team)
        self.assertIn(case.user_id, self.agents)
        self.assertTrue(self.chatter_entries(case, first))
        reply = self.deliver(
            subject="Re: Printer broken", extra_headers=["In-Reply-To: <t1@customer.example>"]
        )
        self.assertEqual(reply.case_id, case)
        self.assertEqual(self.Case.search_count([("account_id", "=", self.account.id)]), 1)
        self.assertEqual(case.email_count, 2)

    def test_reference_attaches_from_participants_only(self):
        case = self.deliver(subject="Invoice question").case_id
        from_customer = self.deliver(subject=f"About [{case.name}] again")
        self.assertEqual(from_customer.case_id, case)
        stranger = self.deliver(subject=f"Injected [{case.name}]", sender="evil@attacker.example")
        self.assertTrue(stranger.case_id)
        self.assertNotEqual(stranger.case_id, case)

    def test_reply_reopens_a_closed_case(self):
        first = self.deliver(subject="Closed one", message_id="<c1@customer.example>")
        case = first.case_id
        case.stage_id = self.env.ref("crm_mail_sync.stage_solved")
        self.assertTrue(case.is_closed)
        self.deliver(subject="Re: Closed one", extra_headers=["In-Reply-To: <c1@customer.example>"])
        self.assertFalse(case.is_closed)

    def test_round_robin_is_fair_and_survives_a_restart(self):
        assigned = []
        for index in range(7):
            if index == 4:
                # A restart: nothing but the database remembers whose turn it is.
                self.env.invalidate_all()
                self.env.registry.clear_cache()
            assigned.append(self.deliver(subject=f"RR {index}").case_id.user_id)
        order = sorted(self.agents, key=lambda user: user.id)
        self.assertEqual(assigned, [order[i % 3] for i in range(7)])
        self.assertEqual(self.account.last_assigned_user_id, order[0])

    def test_least_busy_counts_open_cases_only(self):
        self.account.case_assignment = "least_busy"
        first, second, third = sorted(self.agents, key=lambda user: user.id)
        stage_open = self.env.ref("crm_mail_sync.stage_in_progress")
        stage_closed = self.env.ref("crm_mail_sync.stage_closed")
        for user, stage in (
            (first, stage_open),
            (first, stage_open),
            (second, stage_open),
            (third, stage_closed),
            (third, stage_closed),
        ):
            self.Case.create({"subject": "load", "user_id": user.id, "stage_id": stage.id})
        self.assertEqual(self.deliver(subject="LB 1").case_id.user_id, third)
        self.assertEqual(self.deliver(subject="LB 2").case_id.user_id, second)

    def test_only_members_with_access_are_eligible(self):
        outsider = new_test_user(self.env, login="no_email_access", groups="base.group_user")
        self.team.member_ids = [(6, 0, outsider.ids)]
        self.assertFalse(self.deliver(subject="No eligible agent").case_id.user_id)

    def test_direct_assignment_and_empty_team(self):
        agent = self.agents[1]
        self.account.write({"case_assignment": "direct", "case_user_id": agent.id})
        self.assertEqual(self.deliver(subject="Direct").case_id.user_id, agent)
        self.account.write({"case_assignment": "round_robin"})
        self.team.member_ids = [(5, 0, 0)]
        case = self.deliver(subject="Nobody home").case_id
        self.assertFalse(case.user_id)
        self.assertEqual(case.team_id, self.team)

    def test_opted_out_member_gets_no_case_until_opted_in(self):
        first, second, third = sorted(self.agents, key=lambda user: user.id)
        membership = self.team.crm_team_member_ids.filtered(lambda m: m.user_id == second)
        membership.assignment_optout = True
        assigned = [self.deliver(subject=f"Opt-out RR {i}").case_id.user_id for i in range(4)]
        self.assertEqual(assigned, [first, third, first, third])
        # With no open case at all, the opted-out member is the least busy: still skipped.
        self.account.case_assignment = "least_busy"
        assigned = [self.deliver(subject=f"Opt-out LB {i}").case_id.user_id for i in range(2)]
        self.assertEqual(assigned, [first, third])
        membership.assignment_optout = False
        self.assertEqual(self.deliver(subject="Opted in again").case_id.user_id, second)
        self.account.case_assignment = "round_robin"
        self.assertEqual(self.deliver(subject="In turn again").case_id.user_id, third)

    def test_team_leader_is_eligible_unless_opted_out_as_member(self):
        leader = new_test_user(
            self.env,
            login="case_team_leader",
            groups="base.group_user,crm_mail_sync.group_crm_mail_team",
        )
        self.team.user_id = leader
        case = self.Case.create({"subject": "Leader", "team_id": self.team.id})
        self.assertEqual(case._eligible_users(), sorted((self.agents | leader).ids))
        self.team.member_ids = [(4, leader.id)]
        membership = self.team.crm_team_member_ids.filtered(lambda m: m.user_id == leader)
        membership.assignment_optout = True
        self.assertEqual(case._eligible_users(), sorted(self.agents.ids))

    def test_direct_assignment_takes_no_turn(self):
        agent = self.agents[1]
        self.account.write({"case_assignment": "direct", "case_user_id": agent.id})
        with patch.object(type(self.Case), "_assignment_turn", autospec=True) as take_turn:
            self.assertEqual(self.deliver(subject="Direct, no lock").case_id.user_id, agent)
        take_turn.assert_not_called()
        self.assertFalse(self.account.last_assigned_user_id)

    def test_extending_example_strategy_is_dispatched(self):
        """The distribution of readme/EXTENDING.md, added the way a module adds it."""
        field = self.Account._fields["case_assignment"]
        dave, erin = self.env["res.partner"].create(
            [
                {"name": "Dave", "email": "dave@customer.example"},
                {"name": "Erin", "email": "erin@customer.example"},
            ]
        )
        first, second, third = sorted(self.agents, key=lambda user: user.id)
        with (
            patch.object(type(self.Case), "_assign_sticky", _assign_sticky, create=True),
            patch.object(field, "_selection", {**field._selection, STICKY[0]: STICKY[1]}),
        ):
            self.account.case_assignment = "sticky"
            # No earlier case: the next in turn, which becomes the turn.
            self.assertEqual(self.deliver(subject="Sticky 1").case_id.user_id, first)
            self.assertEqual(
                self.deliver(subject="Sticky 2", sender=dave.email).case_id.user_id, second
            )
            # Known customers keep their agent, and the turn stays where it was.
            self.assertEqual(self.deliver(subject="Sticky 3").case_id.user_id, first)
            self.assertEqual(
                self.deliver(subject="Sticky 4", sender=dave.email).case_id.user_id, second
            )
            self.assertEqual(self.account.last_assigned_user_id, second)
            self.assertEqual(
                self.deliver(subject="Sticky 5", sender=erin.email).case_id.user_id, third
            )
            # An agent no longer eligible: the next in turn again.
            membership = self.team.crm_team_member_ids.filtered(lambda m: m.user_id == first)
            membership.assignment_optout = True
            self.assertEqual(self.deliver(subject="Sticky 6").case_id.user_id, second)

    def test_archive_mail_opens_cases_only_when_asked(self):
        self.dovecot.append(
            self.login,
            "INBOX",
            self.message(subject="Old thread", sender="carla@customer.example"),
            internal_date=self.days_ago(5),
        )
        self.sync(self.account)
        old = self.Email.search([("subject", "=", "Old thread")])
        self.assertEqual(old.import_mode, "archive")
        self.assertFalse(old.case_id)
        self.account.archive_create_cases = True
        self.dovecot.append(
            self.login,
            "INBOX",
            self.message(subject="Old open", sender="carla@customer.example"),
            internal_date=self.days_ago(5),
        )
        self.sync(self.account)
        self.assertTrue(self.Email.search([("subject", "=", "Old open")]).case_id)

    def test_automatic_mail_opens_no_case(self):
        email = self.deliver(
            subject="Out of office", extra_headers=["Auto-Submitted: auto-replied"]
        )
        self.assertTrue(email.is_auto_submitted)
        self.assertFalse(email.case_id)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestConcurrentAssignment(BaseCase):
    """Two transactions assigning at once: the second waits for the first's turn."""

    def test_two_cursors_take_distinct_turns(self):
        registry = Registry(get_db_name())
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            members = env.ref("base.user_admin") | env.ref("base.user_demo")
            team = env["crm.team"].create(
                {"name": "Concurrent", "member_ids": [(6, 0, members.ids)]}
            )
            account = env["crm.mail.account"].create(
                {
                    "name": "concurrent",
                    "account_type": "group",
                    "email": "c@example.com",
                    "create_cases": True,
                    "team_ids": [(6, 0, team.ids)],
                }
            )
            ids = {"team": team.id, "account": account.id}
            cr.commit()  # pylint: disable=invalid-commit

        def new_case(cr, subject):
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["crm.mail.case"].create(
                {"subject": subject, "account_id": ids["account"], "team_id": ids["team"]}
            )

        try:
            with registry.cursor() as first_cr, registry.cursor() as second_cr:
                first = new_case(first_cr, "first")
                first_user = first._assign_case_user()
                # While the first transaction holds the turn, the second cannot take it.
                second_cr.execute("SET LOCAL lock_timeout = '200ms'")
                second = new_case(second_cr, "second")
                with (
                    self.assertRaises(psycopg2.errors.LockNotAvailable),
                    mute_logger("odoo.sql_db"),
                ):
                    second._assign_case_user()
                second_cr.rollback()
                first_cr.commit()  # pylint: disable=invalid-commit
                second = new_case(second_cr, "second")
                second_user = second._assign_case_user()
                second_cr.commit()  # pylint: disable=invalid-commit
            self.assertTrue(first_user)
            self.assertTrue(second_user)
            self.assertNotEqual(first_user.id, second_user.id)
        finally:
            with registry.cursor() as cr:
                cr.execute("DELETE FROM crm_mail_case WHERE account_id = %s", (ids["account"],))
                cr.execute("DELETE FROM crm_mail_account WHERE id = %s", (ids["account"],))
                # Through the ORM: the team's mail alias must go with it.
                api.Environment(cr, SUPERUSER_ID, {})["crm.team"].browse(ids["team"]).unlink()
