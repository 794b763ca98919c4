# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Several companies: each company's mail stays with the users working in it.

Two companies, a group mailbox each on the real Dovecot, the same message delivered
to both (stored once per company) and one message to company B's mailbox only. Users
in A, in B and in both; every route to an email's content is asked as each of them.
"""

import json

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from . import test_content_access
from .common import CrmMailSyncCase

SHARED_SECRET = "narwhalshared"
B_SECRET = "axolotlcompanyb"
B_FILE = "axolotl-contract.pdf"
SHARED_FILE = "narwhal-offer.pdf"
LEVELS = (
    "crm_mail_sync.group_crm_mail_all,sales_team.group_sale_salesman_all_leads,"
    "base.group_allow_export"
)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestMultiCompany(CrmMailSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_a = env.company
        cls.company_b = env["res.company"].create({"name": "Company B"})
        companies = {"a": cls.company_a, "b": cls.company_b}
        cls.users = {}
        for name, allowed in (("a", "a"), ("b", "b"), ("ab", "ab")):
            cls.users[name] = new_test_user(
                env,
                login=f"mc_{name}",
                email=f"mc.{name}@ourcompany.example",
                groups=LEVELS,
                company_id=companies[allowed[0]].id,
                company_ids=[(6, 0, [companies[c].id for c in allowed])],
            )
        # An Emails administrator of company A only: the level sees every email, the
        # company still keeps B's apart.
        cls.users["admin_a"] = new_test_user(
            env,
            login="mc_admin_a",
            email="mc.admin.a@ourcompany.example",
            groups="crm_mail_sync.group_crm_mail_manager,base.group_allow_export",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.team_a = env["crm.team"].create({"name": "Team A", "company_id": cls.company_a.id})
        cls.team_b = env["crm.team"].create({"name": "Team B", "company_id": cls.company_b.id})
        cls.contact = env["res.partner"].create(
            {"name": "Carla", "email": "carla@customer.example"}
        )
        cls.accounts = {}
        for name, company, team in (
            ("a", cls.company_a, cls.team_a),
            ("b", cls.company_b, cls.team_b),
        ):
            login, password = cls.new_mailbox(f"mc-{name}")
            account = cls.Account.create(
                cls.account_values(
                    login,
                    password,
                    name=f"Support {name.upper()}",
                    company_id=company.id,
                    team_ids=[(6, 0, team.ids)],
                    create_cases=True,
                )
            )
            account.action_test_connection()
            account.live_since = cls.days_ago(1)
            cls.accounts[name] = account
        raw = test_content_access._raw
        cls.shared_raw = shared = raw(
            "Offer for both companies",
            "Carla <carla@customer.example>",
            "support@customer.example",
            f"One message, two companies. {SHARED_SECRET}",
            SHARED_FILE,
        )
        for account in cls.accounts.values():
            cls.dovecot.append(account.login, "INBOX", shared)
        cls.dovecot.append(
            cls.accounts["b"].login,
            "INBOX",
            raw(
                "Contract of company B",
                "Carla <carla@customer.example>",
                cls.accounts["b"].email,
                f"Only for company B. {B_SECRET}",
                B_FILE,
            ),
        )
        for account in cls.accounts.values():
            cls.sync(account)
        Email = env["crm.mail.email"]
        shared_emails = Email.search([("subject", "=", "Offer for both companies")])
        cls.emails = {
            "shared_a": shared_emails.filtered(lambda e: e.company_id == cls.company_a),
            "shared_b": shared_emails.filtered(lambda e: e.company_id == cls.company_b),
            "b_only": Email.search([("subject", "=", "Contract of company B")]),
        }

    def as_user(self, name, companies=None):
        """The emails' model as user ``name``, with ``companies`` selected in the
        company switcher (default: Odoo's, all the user's companies)."""
        env = self.env(user=self.users[name])
        if companies is not None:
            env = env(context=dict(env.context, allowed_company_ids=companies.ids))
        return env

    def visible_companies(self, env):
        """Of the three emails, the companies whose mail ``env`` finds."""
        ids = [email.id for email in self.emails.values()]
        return env["crm.mail.email"].search([("id", "in", ids)]).company_id

    # ------------------------------------------------------------------
    # Storing
    # ------------------------------------------------------------------

    def test_same_message_is_stored_once_per_company(self):
        shared_a, shared_b = self.emails["shared_a"], self.emails["shared_b"]
        self.assertEqual(len(shared_a), 1)
        self.assertEqual(len(shared_b), 1)
        self.assertEqual(shared_a.message_id, shared_b.message_id)
        self.assertEqual(shared_a.fingerprint, shared_b.fingerprint)
        self.assertEqual(shared_a.account_ids, self.accounts["a"])
        self.assertEqual(shared_b.account_ids, self.accounts["b"])
        self.assertEqual(shared_a.attachment_ids.company_id, self.company_a)
        self.assertEqual(shared_b.attachment_ids.company_id, self.company_b)
        # Each opened a case in its own company, for its own team.
        self.assertEqual(shared_a.case_id.company_id, self.company_a)
        self.assertEqual(shared_a.case_id.team_id, self.team_a)
        self.assertEqual(shared_b.case_id.company_id, self.company_b)
        self.assertEqual(shared_b.case_id.team_id, self.team_b)
        # Both linked to the contact of no company; each company's chatter entry apart.
        for email in shared_a | shared_b:
            self.assertTrue(self.chatter_entries(self.contact, email))
        # A second folder of company B's mailbox holding it only gains a location.
        self.dovecot.create_folder(self.accounts["b"].login, "Archive")
        self.dovecot.append(self.accounts["b"].login, "Archive", self.shared_raw)
        folders = self.connect(self.accounts["b"])
        folders["Archive"].is_synced = True
        self.sync(self.accounts["b"])
        again = self.env["crm.mail.email"].search([("message_id", "=", shared_a.message_id)])
        self.assertEqual(again, shared_a | shared_b)
        self.assertEqual(len(shared_b.location_ids), 2)

    def test_replies_stay_in_their_company(self):
        """A reply joins the case of its own company's copy of the conversation, and
        no record of the other company."""
        shared_a, shared_b = self.emails["shared_a"], self.emails["shared_b"]
        for name in ("b", "a"):
            self.dovecot.append(
                self.accounts[name].login,
                "INBOX",
                self.message(
                    subject=f"Re: Offer for both companies ({name})",
                    sender="carla@customer.example",
                    to=self.accounts[name].email,
                    extra_headers=[f"In-Reply-To: {shared_a.message_id}"],
                ),
            )
            self.sync(self.accounts[name])
        Email = self.env["crm.mail.email"]
        reply_b = Email.search([("subject", "=", "Re: Offer for both companies (b)")])
        reply_a = Email.search([("subject", "=", "Re: Offer for both companies (a)")])
        self.assertEqual(reply_b.company_id, self.company_b)
        self.assertEqual(reply_b.case_id, shared_b.case_id)
        self.assertEqual(reply_a.case_id, shared_a.case_id)
        cases = {link.res_id for link in reply_b.link_ids if link.res_model == "crm.mail.case"}
        self.assertEqual(cases, set(shared_b.case_id.ids))

    def test_scheduled_sync_stores_each_mailbox_in_its_company(self):
        """The scheduled action runs as superuser in its own company: the mailbox's
        company decides, not the user running the sync."""
        self.dovecot.append(
            self.accounts["b"].login,
            "INBOX",
            self.message(subject="Cron mail of B", sender="carla@customer.example"),
        )
        account = self.accounts["b"].with_user(self.env.ref("base.user_root")).sudo()
        self.assertEqual(account.env.company, self.company_a)
        self.sync(account)
        email = self.env["crm.mail.email"].search([("subject", "=", "Cron mail of B")])
        self.assertEqual(email.company_id, self.company_b)
        self.assertEqual(email.case_id.company_id, self.company_b)

    # ------------------------------------------------------------------
    # Who sees what
    # ------------------------------------------------------------------

    def test_company_switcher(self):
        a, b = self.company_a, self.company_b
        self.assertEqual(self.visible_companies(self.as_user("a")), a)
        self.assertEqual(self.visible_companies(self.as_user("b")), b)
        self.assertEqual(self.visible_companies(self.as_user("ab")), a | b)
        self.assertEqual(self.visible_companies(self.as_user("ab", a | b)), a | b)
        self.assertEqual(self.visible_companies(self.as_user("ab", a)), a)
        self.assertEqual(self.visible_companies(self.as_user("ab", b)), b)
        self.assertEqual(self.visible_companies(self.as_user("admin_a")), a)
        # Cases, mailboxes and folders alike.
        cases = self.emails["shared_a"].case_id | self.emails["shared_b"].case_id
        for name, companies, expected in (
            ("a", None, a),
            ("ab", a | b, a | b),
            ("ab", b, b),
            ("admin_a", None, a),
        ):
            env = self.as_user(name, companies)
            found = env["crm.mail.case"].search([("id", "in", cases.ids)])
            self.assertEqual(found.company_id, expected, (name, "cases"))
            mailboxes = [account.id for account in self.accounts.values()]
            accounts = env["crm.mail.account"].search([("id", "in", mailboxes)])
            self.assertEqual(accounts.company_id, expected, (name, "mailboxes"))
            folders = env["crm.mail.folder"].search([("account_id", "in", accounts.ids)])
            self.assertEqual(folders.account_id.company_id, expected, (name, "folders"))

    def test_user_of_a_never_sees_b_through_the_orm(self):
        for name in ("a", "admin_a"):
            env = self.as_user(name)
            Email = env["crm.mail.email"]
            for key in ("shared_b", "b_only"):
                email = self.emails[key].with_env(env)
                with self.subTest(user=name, email=key):
                    with self.assertRaises(AccessError):
                        email.read(["subject"])
                    with self.assertRaises(AccessError):
                        email.export_data(["subject"])
                    with self.assertRaises(AccessError):
                        self.emails[key].attachment_ids.with_env(env).read(["name", "datas"])
                    with self.assertRaises(AccessError):
                        self.emails[key].case_id.with_env(env).read(["subject"])
                    with self.assertRaises(AccessError):
                        self.emails[key].location_ids.with_env(env).read(["uid"])
            for secret in (B_SECRET,):
                self.assertFalse(Email.search([("body_text", "ilike", secret)]))
            self.assertFalse(Email.name_search("Contract of company B"))
            groups = Email.read_group([], ["company_id"], ["company_id"])
            self.assertEqual([g["company_id"][0] for g in groups], self.company_a.ids)
            rows = Email.search([]).export_data(["subject", "body_text", "attachment_ids/name"])
            self.assertNotIn(B_SECRET, json.dumps(rows["datas"]))
            self.assertNotIn(B_FILE, json.dumps(rows["datas"]))
            of_b = self.emails["shared_b"] | self.emails["b_only"]
            self.assertFalse(env["crm.mail.email.link"].search([("email_id", "in", of_b.ids)]))
            attachments = env["ir.attachment"].search([("name", "in", [B_FILE, SHARED_FILE])])
            self.assertEqual(attachments, self.emails["shared_a"].attachment_ids)

    def test_chatter_entries_follow_the_email(self):
        fields = ["subject", "body", "email_from", "author_id", "attachment_ids"]
        for key in ("shared_b", "b_only"):
            entry = self.chatter_entries(self.contact, self.emails[key])
            self.assertEqual(len(entry), 1)
            for name, companies in (("a", None), ("ab", self.company_a)):
                shown = entry.with_env(self.as_user(name, companies)).read(fields)[0]
                self.assertFalse(shown["subject"], (key, name))
                self.assertFalse(shown["author_id"])
                self.assertEqual(shown["attachment_ids"], [])
                self.assertNotIn(B_SECRET, shown["body"])
            shown = entry.with_env(self.as_user("ab", self.company_b)).read(fields)[0]
            self.assertEqual(shown["subject"], self.emails[key].subject)
        Message = self.as_user("a")["mail.message"]
        self.assertFalse(Message.search([("body", "ilike", B_SECRET)]))

    def thread_messages(self, record):
        params = {"thread_model": record._name, "thread_id": record.id}
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
        response = self.url_open(
            "/mail/thread/messages", data=body, headers={"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 200)
        return response.text

    def test_web_client_routes(self):
        self.authenticate("mc_a", "mc_a")
        text = self.thread_messages(self.contact)
        self.assertIn(SHARED_SECRET, text)  # company A's copy
        self.assertNotIn(B_SECRET, text)
        self.assertNotIn(B_FILE, text)
        of_b = self.emails["b_only"] | self.emails["shared_b"]
        for attachment in of_b.attachment_ids:
            with mute_logger("odoo.http"):
                response = self.url_open(f"/web/content/{attachment.id}?download=true")
            self.assertIn(response.status_code, (403, 404))
            self.assertNotIn(b"secret", response.content)
        # Odoo's routes outside the ORM (the chatter's, downloads) run in every company
        # of the user: a user of both reads both there.
        self.authenticate("mc_ab", "mc_ab")
        self.assertIn(B_SECRET, self.thread_messages(self.contact))
        self.authenticate("mc_b", "mc_b")
        self.assertIn(B_SECRET, self.thread_messages(self.contact))
        attachment = self.emails["b_only"].attachment_ids
        response = self.url_open(f"/web/content/{attachment.id}?download=true")
        self.assertEqual(response.status_code, 200)

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------

    def test_team_of_another_company_is_refused(self):
        account = self.accounts["a"]
        with self.assertRaises(ValidationError) as caught:
            account.team_ids = [(4, self.team_b.id)]
        self.assertIn("its team Team B belongs to Company B", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            account.case_team_id = self.team_b
        self.assertIn("its team Team B belongs to Company B", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            account.company_id = self.company_b
        self.assertIn("its team Team A belongs to", str(caught.exception))
        shared_team = self.env["crm.team"].create({"name": "No company", "company_id": False})
        account.team_ids = [(4, shared_team.id)]
        # Nor may a team of a mailbox move to another company.
        with self.assertRaises(ValidationError) as caught:
            shared_team.company_id = self.company_b
        self.assertIn("its team No company belongs to Company B", str(caught.exception))
        # A personal mailbox belongs to one of its owner's companies.
        login, password = self.new_mailbox("mc-personal")
        with self.assertRaises(ValidationError) as caught:
            self.Account.create(
                {
                    "name": "A's mailbox in B",
                    "account_type": "personal",
                    "user_id": self.users["a"].id,
                    "email": self.users["a"].email,
                    "company_id": self.company_b.id,
                    "host": self.dovecot.host,
                    "login": login,
                    "password": password,
                }
            )
        self.assertIn("does not work", str(caught.exception))

    def test_filters_apply_to_their_company(self):
        Filter = self.env["crm.mail.filter"]
        of_a = Filter.create(
            {
                "name": "Skip in A",
                "scope": "global",
                "company_id": self.company_a.id,
                "subject_contains": "filtered",
            }
        )
        everywhere = Filter.create(
            {"name": "Everywhere", "scope": "global", "subject_contains": "filtered"}
        )
        of_b = Filter.create(
            {
                "name": "Mailbox B",
                "scope": "account",
                "account_id": self.accounts["b"].id,
                "subject_contains": "filtered",
            }
        )
        self.assertEqual(of_b.company_id, self.company_b)
        with self.assertRaises(ValidationError) as caught:
            of_b.company_id = self.company_a
        self.assertIn("belongs to its mailbox's company, Company B", str(caught.exception))
        self.assertFalse(everywhere.company_id)
        self.assertEqual(Filter._rules_for(self.accounts["a"]), of_a | everywhere)
        self.assertEqual(Filter._rules_for(self.accounts["b"]), everywhere | of_b)
        visible = Filter.with_env(self.as_user("admin_a")).search(
            [("id", "in", (of_a | everywhere | of_b).ids)]
        )
        self.assertEqual(visible, of_a | everywhere)

    def test_senders_of_the_selected_companies(self):
        account_b = self.accounts["b"]
        account_b.write({"is_shared": True, "send_permission": "all"})
        a, b = self.company_a, self.company_b
        for name, companies, offered in (
            ("a", None, False),
            ("b", None, True),
            ("ab", a | b, True),
            ("ab", a, False),
        ):
            sendable = self.as_user(name, companies)["crm.mail.account"]._get_sendable_accounts()
            self.assertEqual(account_b in sendable, offered, name)
        self.assertNotIn(account_b, self.Account._get_sendable_accounts(self.users["a"]))

    def share_alias_domain(self):
        """Both companies on one alias domain, as Odoo sets a new company up."""
        domain = self.env["mail.alias.domain"].create({"name": "ourcompany.example"})
        (self.company_a | self.company_b).alias_domain_id = domain
        return domain

    def test_default_sender_per_company(self):
        _sink, server_a = self.start_smtp_sink()
        server_b = server_a.copy({"name": "sink b"})
        AliasDomain = self.env["mail.alias.domain"]
        shared_domain = self.share_alias_domain()
        before = shared_domain.default_from
        account_b = self.accounts["b"]
        account_b.write({"smtp_server_id": server_b.id, "is_default_sender": True})
        # Company B got an alias domain of its own; A's settings are untouched.
        self.assertNotEqual(self.company_b.alias_domain_id, shared_domain)
        self.assertEqual(self.company_b.alias_domain_id.default_from, account_b.email)
        self.assertEqual(self.company_b.default_from_email, account_b.email)
        self.assertEqual(self.company_a.alias_domain_id, shared_domain)
        self.assertEqual(shared_domain.default_from, before)
        # One default sender per company: A may have its own, not B a second one.
        account_a = self.accounts["a"]
        account_a.write({"smtp_server_id": server_a.id, "is_default_sender": True})
        self.assertEqual(self.company_a.default_from_email, account_a.email)
        self.assertEqual(self.company_b.default_from_email, account_b.email)
        login, password = self.new_mailbox("mc-b2")
        with self.assertRaises(ValidationError) as caught:
            self.Account.create(
                self.account_values(
                    login,
                    password,
                    company_id=self.company_b.id,
                    smtp_server_id=server_b.id,
                    is_default_sender=True,
                )
            )
        self.assertIn("Only one mailbox of Company B", str(caught.exception))
        # Unticking gives B's default From back, and leaves A's alone.
        account_b.is_default_sender = False
        self.assertEqual(self.company_b.alias_domain_id.default_from, "notifications")
        self.assertEqual(self.company_a.default_from_email, account_a.email)
        self.assertTrue(AliasDomain.search_count([("name", "=", shared_domain.name)]) >= 1)

    def test_default_sender_refused_when_its_address_is_taken(self):
        _sink, server = self.start_smtp_sink()
        domain = self.share_alias_domain()
        account_b = self.accounts["b"]
        local_part, _at, name = account_b.email.partition("@")
        domain.write({"name": name, "catchall_alias": local_part})
        with self.assertRaises(UserError) as caught:
            account_b.write({"smtp_server_id": server.id, "is_default_sender": True})
        self.assertIn("shares its email domain", str(caught.exception))
