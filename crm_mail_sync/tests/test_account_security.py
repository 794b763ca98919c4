# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from .common import CrmMailSyncCase


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestAccountSecurity(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_user = new_test_user(
            cls.env,
            login="crm_mail_other",
            email="crm.mail.other@example.com",
            groups="base.group_user,crm_mail_sync.group_crm_mail_user,crm_mail_sync.group_crm_mail_personal",
        )

    def _personal(self, user, password="Top-Secret-1"):
        return self.Account.with_user(user).create(
            {
                "name": "mine",
                "account_type": "personal",
                "user_id": user.id,
                "email": user.email,
                "host": "127.0.0.1",
                "login": user.login,
                "password": password,
            }
        )

    def test_user_manages_own_personal_account_only(self):
        account = self._personal(self.mail_user)
        self.assertEqual(account.user_id, self.mail_user)
        self.assertEqual(account.password, "Top-Secret-1")
        with self.assertRaises(AccessError):
            self.Account.with_user(self.mail_user).create(
                {
                    "name": "not mine",
                    "account_type": "personal",
                    "user_id": self.other_user.id,
                    "email": self.other_user.email,
                    "host": "127.0.0.1",
                }
            )
        with self.assertRaises(AccessError):
            self.Account.with_user(self.mail_user).create(
                {"name": "group", "account_type": "group", "email": "g@example.com"}
            )
        with self.assertRaises(AccessError):
            account.with_user(self.other_user).read(["name"])
        # The administrator manages everyone's accounts.
        self.assertEqual(account.with_user(self.mail_admin).password, "Top-Secret-1")

    def test_known_provider_fills_the_servers(self):
        form_account = self.Account.new(
            {"name": "gmail", "account_type": "group", "email": "team@gmail.com"}
        )
        form_account.provider = "gmail"
        form_account._onchange_provider()
        self.assertEqual(
            (form_account.host, form_account.port, form_account.security, form_account.login),
            ("imap.gmail.com", 993, "ssl", "team@gmail.com"),
        )
        smtp = form_account._provider_smtp_values()
        self.assertEqual(
            (smtp["smtp_host"], smtp["smtp_port"], smtp["smtp_encryption"]),
            ("smtp.gmail.com", 465, "ssl"),
        )
        self.assertEqual(smtp["from_filter"], "team@gmail.com")
        plain = self.Account.new(
            {"name": "own", "email": "a@example.com", "host": "imap.example.com"}
        )
        self.assertEqual(plain._provider_smtp_values()["smtp_host"], "smtp.example.com")

    def test_known_provider_picks_oauth_and_says_why(self):
        methods = self.Account._fields["auth_method"].get_values(self.env)
        for provider, method, module, reason in (
            ("gmail", "google", "crm_mail_sync_google", "app password"),
            ("outlook", "microsoft", "crm_mail_sync_microsoft", "basic"),
        ):
            account = self.Account.new(
                {"name": provider, "account_type": "group", "email": f"team@{provider}.test"}
            )
            account.provider = provider
            account._onchange_provider()
            self.assertIn(reason, account.auth_method_info)
            if method in methods:
                # The bridge is installed (it is by default): OAuth is picked, and the
                # password field is not shown for it.
                self.assertEqual(account.auth_method, method)
                self.assertEqual(account.oauth_action, "connect")
            else:
                self.assertEqual(account.auth_method, "password")
                self.assertIn(module, account.auth_method_info)
        # Providers that take passwords keep them, with nothing to explain.
        account = self.Account.new({"name": "zoho", "account_type": "group", "email": "z@z.test"})
        account.provider = "zoho"
        account._onchange_provider()
        self.assertEqual(account.auth_method, "password")
        self.assertFalse(account.auth_method_info)
        self.assertFalse(account.oauth_action)

    def test_personal_address_must_be_the_owners(self):
        with self.assertRaises(ValidationError):
            self.Account.with_user(self.mail_user).create(
                {
                    "name": "wrong address",
                    "account_type": "personal",
                    "user_id": self.mail_user.id,
                    "email": "someone.else@example.com",
                }
            )

    def test_group_account_password_hidden_from_users(self):
        login, password = self.new_mailbox()
        account = self.create_account(login, password)
        as_user = account.with_user(self.mail_user)
        self.assertEqual(as_user.name, login)  # readable...
        self.assertFalse(as_user.password)  # ...but not its password
        self.assertFalse(as_user.read(["password"])[0]["password"])
        self.assertFalse(
            as_user.search_read([("id", "=", account.id)], ["password"])[0]["password"]
        )
        self.mail_user.groups_id += self.env.ref("base.group_allow_export")
        exported = as_user.export_data(["name", "password"])["datas"]
        self.assertEqual(exported[0][0], login)
        self.assertNotIn(password, str(exported))
        with self.assertRaises(AccessError):
            as_user.read(["password_secret"])
        with self.assertRaises(AccessError):
            as_user.write({"password": "changed"})
        self.assertEqual(account.with_user(self.mail_admin).password, password)

    def test_user_sees_only_own_mailbox_emails(self):
        login, password = self.new_mailbox()
        self.dovecot.append(login, "INBOX", self.message(subject="Group mail"))
        group = self.create_account(login, password)
        self.connect(group)
        self.sync(group)
        email = self.emails_of(group)
        self.assertEqual(len(email), 1)
        self.assertFalse(self.Email.with_user(self.mail_user).search([("id", "=", email.id)]))
        self.assertEqual(
            self.Email.with_user(self.mail_admin).search([("id", "=", email.id)]), email
        )

    def test_user_syncs_own_mailbox_and_sees_its_mail(self):
        login, password = self.new_mailbox("own")
        self.dovecot.append(login, "INBOX", self.message(subject="Personal mail"))
        account = self.create_personal_account(self.mail_user, login, password)
        account.action_test_connection()
        action = account.action_sync()
        self.assertEqual(action["params"]["type"], "success")
        mine = self.Email.with_user(self.mail_user).search([("subject", "=", "Personal mail")])
        self.assertEqual(len(mine), 1)
        self.assertFalse(
            self.Email.with_user(self.other_user).search([("subject", "=", "Personal mail")])
        )

    def test_personal_account_crud_by_owner_other_and_admin(self):
        account = self._personal(self.mail_user)
        account.write({"name": "renamed by owner"})
        self.assertEqual(account.name, "renamed by owner")
        as_other = account.with_user(self.other_user)
        for operation in (
            lambda: as_other.read(["name"]),
            lambda: as_other.write({"name": "hijacked"}),
            lambda: as_other.unlink(),
        ):
            with self.assertRaises(AccessError):
                operation()
        as_admin = account.with_user(self.mail_admin)
        as_admin.write({"name": "renamed by admin"})
        self.assertEqual(account.name, "renamed by admin")
        account.unlink()
        self.assertFalse(account.exists())
        admin_made = self.Account.with_user(self.mail_admin).create(
            {
                "name": "made for user",
                "account_type": "personal",
                "user_id": self.other_user.id,
                "email": self.other_user.email,
            }
        )
        self.assertEqual(admin_made.with_user(self.other_user).name, "made for user")

    def test_no_personal_right_no_personal_account(self):
        plain = new_test_user(
            self.env,
            login="crm_mail_plain",
            email="plain@example.com",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )
        with self.assertRaises(AccessError):
            self._personal(plain)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestPasswordOverRpc(HttpCase):
    """The password cannot be read over JSON-RPC by another user."""

    def test_password_not_readable_over_json_rpc(self):
        user = new_test_user(
            self.env,
            login="rpc_user",
            password="rpc_user_pw_123",
            email="rpc.user@example.com",
            groups="base.group_user,base.group_allow_export,crm_mail_sync.group_crm_mail_all,"
            "crm_mail_sync.group_crm_mail_personal",
        )
        group = self.env["crm.mail.account"].create(
            {
                "name": "rpc group",
                "account_type": "group",
                "email": "g@example.com",
                "password": "Group-Secret-9",
            }
        )
        own = self.env["crm.mail.account"].create(
            {
                "name": "rpc own",
                "account_type": "personal",
                "user_id": user.id,
                "email": user.email,
                "password": "Own-Secret-7",
            }
        )
        self.authenticate("rpc_user", "rpc_user_pw_123")

        def call(method, args, kwargs=None):
            return self.make_jsonrpc_request(
                f"/web/dataset/call_kw/crm.mail.account/{method}",
                {
                    "model": "crm.mail.account",
                    "method": method,
                    "args": args,
                    "kwargs": kwargs or {},
                },
            )

        read = call("read", [[group.id, own.id], ["password"]])
        passwords = {row["id"]: row["password"] for row in read}
        self.assertEqual(passwords, {group.id: False, own.id: "Own-Secret-7"})
        found = call("search_read", [[("id", "=", group.id)], ["password"]])
        self.assertFalse(found[0]["password"])
        exported = call("export_data", [[group.id], ["name", "password"]])
        self.assertNotIn("Group-Secret-9", str(exported))
        with self.assertRaises(JsonRpcException) as caught, mute_logger("odoo.http"):
            call("read", [[group.id], ["password_secret"]])
        self.assertNotIn("Group-Secret-9", str(caught.exception))
