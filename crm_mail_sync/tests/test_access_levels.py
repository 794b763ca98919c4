# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Who sees which email: the level x email matrix, one test per cell."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from . import access_matrix
from .common import CrmMailSyncCase

# The matrix lives in access_matrix.py, which the README's table is checked against.
LEVELS = access_matrix.LEVELS
READERS = access_matrix.READERS


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestAccessLevels(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {
            level: new_test_user(
                cls.env,
                login=f"level_{level}",
                email=f"level.{level}@ourcompany.example",
                groups=f"{group},base.group_allow_export",
            )
            for level, group in LEVELS.items()
        }
        stranger = new_test_user(
            cls.env, login="stranger", email="stranger@ourcompany.example", groups=LEVELS["own"]
        )
        cls.team_alpha = cls.env["crm.team"].create(
            {"name": "Alpha", "member_ids": [(6, 0, [u.id for u in cls.users.values()])]}
        )
        cls.team_beta = cls.env["crm.team"].create({"name": "Beta"})
        cls.emails = {level: {} for level in LEVELS}
        alpha = cls._mailbox_account("alpha", team_ids=[(6, 0, cls.team_alpha.ids)])
        beta = cls._mailbox_account("beta", team_ids=[(6, 0, cls.team_beta.ids)])
        other = cls._mailbox_account("other", user=stranger, private_mailbox=True)
        team_email = cls._deliver(alpha, subject="alpha team mail")
        beta_email = cls._deliver(beta, subject="beta team mail")
        other_email = cls._deliver(other, subject="stranger's mail")
        # The company axis: a group mailbox of a company none of the users works in.
        other_company = cls.env["res.company"].create({"name": "Other Company"})
        elsewhere = cls._mailbox_account("elsewhere", company_id=other_company.id)
        for level, user in cls.users.items():
            own = cls._mailbox_account(f"own-{level}", user=user)
            assigned = cls._deliver(beta, subject=f"case of {level}")
            assigned.case_id = cls.env["crm.mail.case"].create(
                {"subject": f"case of {level}", "team_id": cls.team_beta.id, "user_id": user.id}
            )
            cls.emails[level] = {
                "own_mailbox": cls._deliver(own, subject=f"own {level}"),
                "address_to": cls._deliver(beta, subject=f"to {level}", to=user.email),
                "address_cc": cls._deliver(
                    beta, subject=f"cc {level}", extra=[f"Cc: {user.email}"]
                ),
                "assigned_case": assigned,
                "team_email": team_email,
                "other_team_email": beta_email,
                "other_user_private": other_email,
                "other_company": cls._deliver(
                    elsewhere, subject=f"other company, to {level}", to=user.email
                ),
            }

    @classmethod
    def _mailbox_account(cls, name, user=None, **vals):
        login, password = cls.new_mailbox(name)
        values = cls.account_values(login, password, name=name)
        if user:
            values.update(account_type="personal", user_id=user.id, email=user.email)
        values.update(vals)
        account = cls.env["crm.mail.account"].create(values)
        account.action_test_connection()
        return account

    @classmethod
    def _deliver(cls, account, subject, to="somebody@customer.example", extra=()):
        raw = cls.message(
            subject=subject, sender="client@customer.example", to=to, extra_headers=list(extra)
        )
        login = account.login
        cls.dovecot.append(login, "INBOX", raw)
        cls.sync(account)
        return cls.env["crm.mail.email"].search([("subject", "=", subject)])

    def _check_cell(self, level, kind):
        user = self.users[level]
        email = self.emails[level][kind]
        self.assertEqual(len(email), 1)
        Email = self.env["crm.mail.email"].with_user(user)
        readable = level in READERS[kind]
        domain = [("id", "=", email.id)]
        if level == "none":
            # No level: no access to the model at all, whatever the email.
            for operation in (
                lambda: Email.search(domain),
                lambda: Email.search_count(domain),
                lambda: Email.read_group(domain, ["direction"], ["direction"]),
                lambda: email.with_user(user).read(["subject"]),
                lambda: email.with_user(user).export_data(["subject"]),
                lambda: email.with_user(user).write({"subject": "edited"}),
                lambda: email.with_user(user).unlink(),
            ):
                with self.assertRaises(AccessError):
                    operation()
            return
        self.assertEqual(bool(Email.search(domain)), readable, "search")
        self.assertEqual(Email.search_count(domain), int(readable), "search_count")
        groups = Email.read_group(domain, ["direction"], ["direction"])
        self.assertEqual(sum(g["direction_count"] for g in groups), int(readable), "read_group")
        if readable:
            subject = email.subject
            self.assertEqual(email.with_user(user).read(["subject"])[0]["subject"], subject)
            found = Email.search_read(domain, ["subject", "body_html"])
            self.assertEqual(found[0]["subject"], subject, "search_read")
            exported = email.with_user(user).export_data(["subject"])["datas"]
            self.assertEqual(exported, [[subject]], "export")
        else:
            with self.assertRaises(AccessError):
                email.with_user(user).read(["subject"])
            with self.assertRaises(AccessError):
                email.with_user(user).export_data(["subject"])
        if level == "admin" and readable:
            email.with_user(user).write({"subject": "edited by admin"})
            self.assertEqual(email.subject, "edited by admin")
        else:
            with self.assertRaises(AccessError):
                email.with_user(user).write({"subject": "edited"})
            with self.assertRaises(AccessError):
                email.with_user(user).unlink()
        if level == "admin" and readable:
            email.with_user(user).unlink()
            self.assertFalse(email.exists())

    def test_private_email_shows_in_chatter_to_its_owner_only(self):
        email = self.emails["own"]["other_user_private"]
        self.assertTrue(email.is_private)
        stranger = self.env["res.users"].search([("login", "=", "stranger")])
        self.assertEqual(email.with_user(stranger).read(["subject"])[0]["subject"], email.subject)
        partner = self.env["res.partner"].create(
            {"name": "Client", "email": "client@customer.example"}
        )
        self.assertIn(
            ("res.partner", partner.id), {(link.res_model, link.res_id) for link in email.link_ids}
        )
        entry = self.chatter_entries(partner, email)
        self.assertEqual(len(entry), 1)
        # The entry holds nothing; the email decides what each reader of the contact sees.
        self.assertFalse(entry.subject)
        self.assertEqual(entry.with_user(stranger).read(["subject"])[0]["subject"], email.subject)
        for level in ("own", "team", "all"):
            shown = entry.with_user(self.users[level]).read(["subject", "body"])[0]
            self.assertFalse(shown["subject"], level)
            self.assertNotIn("Hi", shown["body"], level)

    def test_team_membership_changes_apply_at_once(self):
        user = self.users["team"]
        email = self.emails["team"]["other_team_email"]
        Email = self.env["crm.mail.email"].with_user(user)
        self.assertFalse(Email.search([("id", "=", email.id)]))
        self.team_beta.member_ids = [(4, user.id)]
        self.assertTrue(Email.search([("id", "=", email.id)]))
        self.team_beta.member_ids = [(3, user.id)]
        self.assertFalse(Email.search([("id", "=", email.id)]))
        self.team_alpha.member_ids = [(3, user.id)]
        self.assertFalse(Email.search([("id", "=", self.emails["team"]["team_email"].id)]))

    def test_address_change_applies_at_once(self):
        user = self.users["own"]
        email = self.emails["own"]["address_to"]
        Email = self.env["crm.mail.email"].with_user(user)
        self.assertTrue(Email.search([("id", "=", email.id)]))
        user.partner_id.email = "new.address@ourcompany.example"
        self.assertFalse(Email.search([("id", "=", email.id)]))
        user.partner_id.email = "level.own@ourcompany.example"
        self.assertTrue(Email.search([("id", "=", email.id)]))

    def test_trash_is_per_user(self):
        email = self.emails["all"]["team_email"]
        all_user, team_user = self.users["all"], self.users["team"]
        email.with_user(all_user).action_move_to_trash()
        trashed = [("is_in_my_trash", "=", True), ("id", "=", email.id)]
        self.assertTrue(self.env["crm.mail.email"].with_user(all_user).search(trashed))
        self.assertFalse(self.env["crm.mail.email"].with_user(team_user).search(trashed))
        self.assertTrue(
            self.env["crm.mail.email"]
            .with_user(team_user)
            .search([("is_in_my_trash", "=", False), ("id", "=", email.id)])
        )
        email.with_user(all_user).action_restore_from_trash()
        self.assertFalse(self.env["crm.mail.email"].with_user(all_user).search(trashed))
        with self.assertRaises(AccessError):
            self.emails["none"]["team_email"].with_user(self.users["none"]).action_move_to_trash()

    def test_shared_sending_levels(self):
        shared = self.env["crm.mail.account"].search([("name", "=", "alpha")])
        shared.write({"is_shared": True, "send_permission": "team"})
        outsider = new_test_user(self.env, login="outsider", groups=LEVELS["own"])
        Account = self.env["crm.mail.account"]
        self.assertIn(shared, Account._get_sendable_accounts(self.users["own"]))
        self.assertNotIn(shared, Account._get_sendable_accounts(outsider))
        shared.send_permission = "all"
        self.assertIn(shared, Account._get_sendable_accounts(outsider))
        shared.send_permission = "none"
        self.assertNotIn(shared, Account._get_sendable_accounts(self.users["own"]))
        self.assertIn(shared, Account._get_sendable_accounts(self.users["admin"]))
        shared.write({"is_shared": False, "send_permission": "all"})
        self.assertNotIn(shared, Account._get_sendable_accounts(outsider))
        own = Account.search([("name", "=", "own-own")])
        self.assertIn(own, Account._get_sendable_accounts(self.users["own"]))
        self.assertNotIn(own, Account._get_sendable_accounts(self.users["team"]))


def _make_cell(level, kind):
    def test(self):
        self._check_cell(level, kind)

    test.__name__ = f"test_cell_{level}_{kind}"
    test.__doc__ = f"Level {level!r} and an email of kind {kind!r}."
    return test


for _level in LEVELS:
    for _kind in READERS:
        setattr(TestAccessLevels, f"test_cell_{_level}_{_kind}", _make_cell(_level, _kind))
