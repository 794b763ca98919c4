# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One rule for an email's content, on every route to it.

Route (ORM read of the chatter entries, the chatter JSON route over HTTP, attachment
downloads over HTTP, chatter and record searches, exports, read_group, the email's
name) x record (contact, company, lead, case) x level (none, own, own and addressed,
team, another team, all, the owner of a private mailbox, administrator), against
real HTTP and real Dovecot. Two emails are linked to every record: one of the support
team's mailbox, one private to a user's personal mailbox.
"""

import json
import re
import time
from pathlib import Path

from odoo.exceptions import AccessError
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from . import access_matrix
from .common import CrmMailSyncCase
from .servers import get_shared_dovecot

# Words that appear only in the content of the two emails.
TEAM_SECRET = "zebracornteam"
PRIVATE_SECRET = "okapiprivate"
TEAM_FILE = "zebracorn-contract.pdf"
PRIVATE_FILE = "okapi-payslip.pdf"
OTHER_COMPANY_SECRET = "quokkaothercompany"
OTHER_COMPANY_FILE = "quokka-invoice.pdf"
SECRETS = (
    ("team", TEAM_SECRET),
    ("private", PRIVATE_SECRET),
    ("other_company", OTHER_COMPANY_SECRET),
)

# Who reads which email, and who opens which record (the case: its assignee's level
# aside, the members of its team and the users addressed by its emails).
READERS = {
    "team": {"own_addr", "team", "all", "admin"},
    "private": {"owner", "admin"},
    # The company axis: mail of a company none of the users works in.
    "other_company": set(),
}
CASE_OPENERS = {"own_addr", "team", "all", "admin"}
USERS = ("none", "own", "own_addr", "team", "other_team", "all", "owner", "admin")
GROUPS = {
    "none": "base.group_user",
    "own": "crm_mail_sync.group_crm_mail_user",
    "own_addr": "crm_mail_sync.group_crm_mail_user",
    "team": "crm_mail_sync.group_crm_mail_team",
    "other_team": "crm_mail_sync.group_crm_mail_team",
    "all": "crm_mail_sync.group_crm_mail_all",
    "owner": "crm_mail_sync.group_crm_mail_user,crm_mail_sync.group_crm_mail_personal",
    "admin": "crm_mail_sync.group_crm_mail_manager",
}


def _raw(subject, sender, to, body, filename, cc=None, message_id=None):
    lines = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Message-ID: {message_id or '<' + filename + '@customer.example>'}",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="XX"',
        "",
        "--XX",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "--XX",
        f'Content-Type: application/pdf; name="{filename}"',
        f'Content-Disposition: attachment; filename="{filename}"',
        "Content-Transfer-Encoding: base64",
        "",
        "JVBERi0xLjQKJSBzZWNyZXQK",
        "--XX--",
        "",
    ]
    return "\r\n".join(lines).encode()


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestContentAccess(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = get_shared_dovecot()
        env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.env = env
        env["ir.config_parameter"].set_param("crm_mail_sync.allowed_mail_hosts", cls.dovecot.host)
        cls.users = {
            name: new_test_user(
                env,
                login=f"access_{name}",
                email=f"access.{name}@ourcompany.example",
                groups=f"{GROUPS[name]},sales_team.group_sale_salesman_all_leads,"
                "base.group_allow_export",
            )
            for name in USERS
        }
        team = env["crm.team"].create(
            {"name": "Support", "member_ids": [(6, 0, cls.users["team"].ids)]}
        )
        env["crm.team"].create(
            {"name": "Elsewhere", "member_ids": [(6, 0, cls.users["other_team"].ids)]}
        )
        cls.company = env["res.partner"].create({"name": "Customer Corp", "is_company": True})
        cls.contact = env["res.partner"].create(
            {"name": "Carla", "email": "carla@customer.example", "parent_id": cls.company.id}
        )
        cls.lead = env["crm.lead"].create(
            {"name": "Blue widgets", "email_from": "carla@customer.example"}
        )
        # The support team's mailbox: its mail opens cases for the team.
        login, password = CrmMailSyncCase.new_mailbox.__func__(cls, "support")
        support = env["crm.mail.account"].create(
            CrmMailSyncCase.account_values.__func__(
                cls,
                login,
                password,
                name="Support",
                team_ids=[(6, 0, team.ids)],
                create_cases=True,
                case_assignment="direct",
                case_user_id=cls.users["team"].id,
            )
        )
        support.action_test_connection()
        support.live_since = CrmMailSyncCase.days_ago(1)
        cls.dovecot.append(
            login,
            "INBOX",
            _raw(
                "Quote for the blue widgets",
                "Carla <carla@customer.example>",
                support.email,
                f"Please send the quote. {TEAM_SECRET}",
                TEAM_FILE,
                cc=cls.users["own_addr"].email,
            ),
        )
        CrmMailSyncCase.sync(support)
        # The owner's private personal mailbox.
        owner = cls.users["owner"]
        login, password = CrmMailSyncCase.new_mailbox.__func__(cls, "private")
        private = (
            env["crm.mail.account"]
            .with_user(owner)
            .create(
                {
                    "name": "Owner's mailbox",
                    "account_type": "personal",
                    "user_id": owner.id,
                    "email": owner.email,
                    "host": cls.dovecot.host,
                    "port": cls.dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": password,
                    "private_mailbox": True,
                }
            )
            .sudo()
        )
        private.action_test_connection()
        cls.dovecot.append(
            login,
            "INBOX",
            _raw(
                "Salary negotiation",
                "Carla <carla@customer.example>",
                owner.email,
                f"My salary expectations. {PRIVATE_SECRET}",
                PRIVATE_FILE,
            ),
        )
        CrmMailSyncCase.sync(private)
        # A group mailbox of another company, Carla writing to it too (the contact and
        # her company belong to no company: the email is linked to them).
        other_company = env["res.company"].create({"name": "Other Company"})
        login, password = CrmMailSyncCase.new_mailbox.__func__(cls, "elsewhere")
        elsewhere = env["crm.mail.account"].create(
            CrmMailSyncCase.account_values.__func__(
                cls, login, password, name="Elsewhere", company_id=other_company.id
            )
        )
        elsewhere.action_test_connection()
        cls.dovecot.append(
            login,
            "INBOX",
            _raw(
                "Invoice of the other company",
                "Carla <carla@customer.example>",
                cls.users["own_addr"].email,
                f"The other company's invoice. {OTHER_COMPANY_SECRET}",
                OTHER_COMPANY_FILE,
            ),
        )
        CrmMailSyncCase.sync(elsewhere)
        Email = env["crm.mail.email"]
        cls.emails = {
            "team": Email.search([("subject", "=", "Quote for the blue widgets")]),
            "private": Email.search([("subject", "=", "Salary negotiation")]),
            "other_company": Email.search([("subject", "=", "Invoice of the other company")]),
        }
        cls.case = cls.emails["team"].case_id
        assert cls.case and cls.emails["private"].is_private
        # The private email concerns the case too (linked by hand by its owner).
        env["crm.mail.linking"]._create_links(
            cls.emails["private"],
            {cls.emails["private"].id: {("crm.mail.case", cls.case.id): "manual"}},
            notify=False,
        )
        # The lead and the case are of the first company: the sync links no other
        # company's mail to them; linked by hand here, their readers still see none of it.
        other = cls.emails["other_company"]
        env["crm.mail.linking"]._create_links(
            other,
            {
                other.id: {
                    ("crm.lead", cls.lead.id): "manual",
                    ("crm.mail.case", cls.case.id): "manual",
                }
            },
            notify=False,
        )
        cls.records = {
            "contact": cls.contact,
            "company": cls.company,
            "lead": cls.lead,
            "case": cls.case,
        }
        for email in cls.emails.values():
            for record in cls.records.values():
                assert CrmMailSyncCase.chatter_entries(record, email), (record, email)

    # ------------------------------------------------------------------

    def can_open(self, user, name):
        return name != "case" or user in CASE_OPENERS

    def cells(self):
        """Every (user, record name, record) of the matrix."""
        for user in USERS:
            for name, record in self.records.items():
                yield user, name, record

    def assert_shows(self, text, user, where):
        """``text`` (anything printed) holds what ``user`` may read, nothing else."""
        for kind, secret, filename in (
            ("team", TEAM_SECRET, TEAM_FILE),
            ("private", PRIVATE_SECRET, PRIVATE_FILE),
            ("other_company", OTHER_COMPANY_SECRET, OTHER_COMPANY_FILE),
        ):
            readable = user in READERS[kind]
            subject = self.emails[kind].subject
            for needle in (secret, subject, filename):
                if readable:
                    continue
                self.assertNotIn(needle, text, f"{where}: {user} sees {needle!r}")

    # ------------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------------

    def test_orm_read_of_chatter_entries(self):
        fields = ["subject", "body", "email_from", "author_id", "attachment_ids", "preview"]
        for user, name, record in self.cells():
            with self.subTest(user=user, record=name):
                as_user = self.env["mail.message"].with_user(self.users[user])
                for kind, email in self.emails.items():
                    entry = CrmMailSyncCase.chatter_entries(record, email).with_env(as_user.env)
                    if not self.can_open(user, name):
                        with self.assertRaises(AccessError):
                            entry.read(fields)
                        continue
                    shown = entry.read(fields)[0]
                    if user in READERS[kind]:
                        self.assertEqual(shown["subject"], email.subject)
                        self.assertIn(email.body_text.split()[-1], shown["body"])
                        self.assertEqual(shown["attachment_ids"], email.attachment_ids.ids)
                        self.assertTrue(shown["author_id"])
                    else:
                        self.assertFalse(shown["subject"])
                        self.assertFalse(shown["email_from"])
                        self.assertFalse(shown["author_id"])
                        self.assertEqual(shown["attachment_ids"], [])
                        self.assertIn("You do not have access", shown["body"])
                    self.assert_shows(json.dumps(shown, default=str), user, "read")
                    # The email's name, as a many2one shows it (Odoo reads it as superuser).
                    label = entry.read(["crm_mail_email_id"])[0]["crm_mail_email_id"][1]
                    self.assertEqual(label == email.subject, user in READERS[kind])

    def test_record_searches_find_no_content(self):
        """Searching a record by the text of its messages finds nothing of an email: the
        chatter entries hold none (Odoo searches messages by SQL join, without rules)."""
        for user, name, record in self.cells():
            with self.subTest(user=user, record=name):
                if not self.can_open(user, name):
                    continue
                Model = record.with_user(self.users[user]).browse()
                for secret in (TEAM_SECRET, PRIVATE_SECRET, OTHER_COMPANY_SECRET):
                    for path in ("message_ids.body", "message_ids.subject"):
                        found = Model.search([(path, "ilike", secret), ("id", "=", record.id)])
                        self.assertFalse(found, path)
                Message = self.env["mail.message"].with_user(self.users[user])
                self.assertFalse(Message.search([("body", "ilike", TEAM_SECRET)]))
                self.assertFalse(Message.search([("subject", "ilike", "Salary")]))
        # The archive answers the same search by its rules.
        for user in USERS:
            Email = self.env["crm.mail.email"].with_user(self.users[user])
            for kind, secret in SECRETS:
                if user == "none":
                    with self.assertRaises(AccessError):
                        Email.search([("body_text", "ilike", secret)])
                    continue
                found = Email.search([("body_text", "ilike", secret)])
                self.assertEqual(bool(found), user in READERS[kind], (user, kind))
                named = Email.name_search(self.emails[kind].subject)
                self.assertEqual(bool(named), user in READERS[kind], (user, kind))

    def test_exports(self):
        paths = ["subject", "body", "email_from", "author_id/name", "attachment_ids/name"]
        for user, name, record in self.cells():
            with self.subTest(user=user, record=name):
                if not self.can_open(user, name):
                    continue
                as_user = record.with_user(self.users[user])
                rows = as_user.export_data(
                    ["message_ids/subject", "message_ids/body", "message_ids/attachment_ids/name"]
                )["datas"]
                self.assert_shows(json.dumps(rows, default=str), user, "record export")
                entries = (
                    CrmMailSyncCase.chatter_entries(record, self.emails["team"])
                    | CrmMailSyncCase.chatter_entries(record, self.emails["private"])
                    | CrmMailSyncCase.chatter_entries(record, self.emails["other_company"])
                ).with_user(self.users[user])
                try:
                    rows = entries.export_data(paths)["datas"]
                except AccessError:
                    continue  # Odoo lets only system administrators export messages
                self.assert_shows(json.dumps(rows, default=str), user, "message export")
        for user in USERS:
            if user == "none":
                continue
            Email = self.env["crm.mail.email"].with_user(self.users[user])
            visible = Email.search([("id", "in", [e.id for e in self.emails.values()])])
            rows = visible.export_data(["subject", "body_text", "attachment_ids/name"])["datas"]
            self.assert_shows(json.dumps(rows, default=str), user, "email export")

    def test_read_group(self):
        for user, name, record in self.cells():
            with self.subTest(user=user, record=name):
                if not self.can_open(user, name):
                    continue
                Message = self.env["mail.message"].with_user(self.users[user])
                domain = [("model", "=", record._name), ("res_id", "=", record.id)]
                groups = Message.read_group(
                    domain, ["subject"], ["subject", "author_id"], lazy=False
                )
                self.assert_shows(json.dumps(groups, default=str), user, "read_group")
        for user in USERS:
            if user == "none":
                continue
            Email = self.env["crm.mail.email"].with_user(self.users[user])
            groups = Email.read_group([], ["subject"], ["subject"])
            self.assert_shows(json.dumps(groups, default=str), user, "email read_group")

    # ------------------------------------------------------------------
    # The web client's routes, over HTTP
    # ------------------------------------------------------------------

    def login(self, user):
        self.authenticate(self.users[user].login, self.users[user].login)

    def thread_messages(self, record, **params):
        """The chatter route, as the web client calls it; the raw response text."""
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {"thread_model": record._name, "thread_id": record.id, **params},
            }
        )
        response = self.url_open(
            "/mail/thread/messages", data=body, headers={"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 200)
        return response.text

    def test_chatter_route(self):
        for user in USERS:
            self.login(user)
            for name, record in self.records.items():
                with self.subTest(user=user, record=name):
                    text = self.thread_messages(record)
                    self.assert_shows(text, user, "/mail/thread/messages")
                    result = json.loads(text).get("result") or {}
                    messages = {
                        message["id"]: message
                        for message in result.get("data", {}).get("mail.message", [])
                    }
                    for kind, email in self.emails.items():
                        entry = CrmMailSyncCase.chatter_entries(record, email)
                        if not self.can_open(user, name):
                            self.assertNotIn(entry.id, messages)
                            continue
                        shown = messages[entry.id]
                        if user in READERS[kind]:
                            self.assertEqual(shown["subject"], email.subject)
                            self.assertIn(email.body_text.split()[-1], shown["body"])
                            self.assertEqual(len(shown["attachment_ids"]), 1)
                        else:
                            # That an email exists, and when: nothing else.
                            self.assertFalse(shown["subject"])
                            self.assertFalse(shown["author"])
                            self.assertFalse(shown["attachment_ids"])
                            self.assertIn("You do not have access", shown["body"])
                            self.assertTrue(shown["date"])

    def test_chatter_search(self):
        for user in USERS:
            self.login(user)
            for name, record in self.records.items():
                with self.subTest(user=user, record=name):
                    for kind, secret in SECRETS:
                        text = self.thread_messages(record, search_term=secret)
                        self.assert_shows(text, user, "chatter search")
                        result = json.loads(text).get("result") or {}
                        found = self.can_open(user, name) and user in READERS[kind]
                        self.assertEqual(result.get("count", 0), int(found), (kind, text[:300]))

    def test_attachment_downloads(self):
        files = {kind: email.attachment_ids for kind, email in self.emails.items()}
        for user in USERS:
            self.login(user)
            for kind, attachment in files.items():
                with self.subTest(user=user, kind=kind):
                    for url in (
                        f"/web/content/{attachment.id}?download=true",
                        f"/web/content/ir.attachment/{attachment.id}/datas",
                    ):
                        # Odoo logs each refused download as a warning.
                        with mute_logger("odoo.http"):
                            response = self.url_open(url, allow_redirects=False)
                        if user in READERS[kind]:
                            self.assertEqual(response.status_code, 200, url)
                            self.assertIn(b"secret", response.content, url)
                        else:
                            self.assertIn(response.status_code, (403, 404), url)
                            self.assertNotIn(b"secret", response.content, url)


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestWhoSeesWhatTable(BaseCase):
    def test_readme_table_is_the_matrix(self):
        """The README's "Who sees what" table is the matrix the access tests check."""
        readme = Path(__file__).resolve().parents[2] / "README.md"
        text = readme.read_text(encoding="utf-8")
        self.assertIn(access_matrix.render_table(), text)
        self.assertTrue(re.search(r"^## Who sees what", text, re.M))
