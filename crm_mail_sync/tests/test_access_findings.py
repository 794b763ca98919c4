# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The ten findings of the access review, one test each (each failed before the fix),
against real Dovecot, PostgreSQL and an SMTP sink."""

import email as email_lib
import json
import re
from email import policy
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL, email_normalize

from odoo.addons.mail.tools.discuss import Store

from ..lib.addresses import normalize_address
from ..models import crm_mail_link_request
from .common import CrmMailSyncCase

SECRET = "quokkasecret"


def _with_file(subject, sender, to, body, filename="plan.pdf", message_id=None, extra=()):
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        *extra,
        *([f"Message-ID: {message_id}"] if message_id else []),
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="B"',
    ]
    return (
        "\r\n".join(headers)
        + "\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
        + "\r\n--B\r\nContent-Type: application/pdf\r\n"
        + f'Content-Disposition: attachment; filename="{filename}"'
        + "\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n"
    ).encode()


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestAccessFindings(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink, cls.smtp = cls.start_smtp_sink()
        groups = "sales_team.group_sale_salesman_all_leads"
        cls.nobody = new_test_user(
            cls.env, login="finding_nobody", groups=f"base.group_user,{groups}"
        )
        cls.own = new_test_user(
            cls.env,
            login="finding_own",
            email="finding.own@ourcompany.example",
            groups=f"crm_mail_sync.group_crm_mail_user,{groups}",
        )
        cls.agent = new_test_user(
            cls.env,
            login="finding_agent",
            email="finding.agent@ourcompany.example",
            groups=f"crm_mail_sync.group_crm_mail_team,{groups}",
        )
        cls.reader = new_test_user(
            cls.env,
            login="finding_reader",
            email="finding.reader@ourcompany.example",
            groups=f"crm_mail_sync.group_crm_mail_all,{groups}",
            notification_type="inbox",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Findings support", "member_ids": [(6, 0, cls.agent.ids)]}
        )
        cls.company = cls.env["res.partner"].create({"name": "Quokka Ltd", "is_company": True})
        cls.contact = cls.env["res.partner"].create(
            {"name": "Quinn", "email": "quinn@quokka.example", "parent_id": cls.company.id}
        )
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Quokka deal", "email_from": "quinn@quokka.example"}
        )

    def setUp(self):
        super().setUp()
        self.sink.messages.clear()
        self.login, password = self.new_mailbox("findings")
        self.account = self.create_account(
            self.login,
            password,
            name="Support",
            team_ids=[(6, 0, self.team.ids)],
            smtp_server_id=self.smtp.id,
        )
        self.connect(self.account)
        self.account.live_since = self.days_ago(1)

    def deliver(self, *raws, folder="INBOX"):
        for raw in raws:
            self.dovecot.append(self.login, folder, raw)
        self.sync(self.account)
        return self.emails_of(self.account)

    def mail(self, subject, sender="Quinn <quinn@quokka.example>", **kw):
        kw.setdefault("to", self.account.email)
        return self.message(subject=subject, sender=sender, **kw)

    @staticmethod
    def targets(email):
        return [(link.res_model, link.res_id) for link in email.link_ids]

    def enable_cases(self):
        self.account.write(
            {
                "create_cases": True,
                "case_assignment": "direct",
                "case_user_id": self.agent.id,
            }
        )

    def chatter_json(self, record, user):
        """What the web client's chatter receives for ``record``, as ``user``."""
        Message = self.env["mail.message"].with_user(user)
        messages = Message._message_fetch(
            [("model", "=", record._name), ("res_id", "=", record.id)]
        )["messages"]
        return json.dumps(Store(messages, for_current_user=True).get_result(), default=str)

    # ------------------------------------------------------------------

    def test_finding_01_chatter_follows_the_email_rules(self):
        """A user without a level, and an Own user who is not addressed, read nothing
        of an email in the chatter of the contact, company and lead it is linked to."""
        email = self.deliver(
            _with_file("Quokka pricing", "Quinn <quinn@quokka.example>", self.account.email, SECRET)
        )
        self.assertEqual(len(email.link_ids), 3)
        for user in (self.nobody, self.own):
            for record in (self.contact, self.company, self.lead):
                with self.subTest(user=user.login, record=record._name):
                    text = self.chatter_json(record, user)
                    self.assertNotIn(SECRET, text)
                    self.assertNotIn("Quokka pricing", text)
                    self.assertNotIn("plan.pdf", text)
                    shown = record.with_user(user).message_ids.read(["body", "attachment_ids"])
                    self.assertNotIn(SECRET, json.dumps(shown, default=str))
                    self.assertFalse([a for values in shown for a in values["attachment_ids"]])
        # A reader sees it all, on the same routes.
        text = self.chatter_json(self.contact, self.reader)
        self.assertIn(SECRET, text)
        self.assertIn("plan.pdf", text)

    def test_finding_02_cases_follow_the_levels(self):
        other_team = self.env["crm.team"].create({"name": "Elsewhere"})
        theirs = self.env["crm.mail.case"].create(
            {"subject": "Someone else's case", "team_id": other_team.id}
        )
        ours = self.env["crm.mail.case"].create({"subject": "Our case", "team_id": self.team.id})
        mine = self.env["crm.mail.case"].create({"subject": "My case", "user_id": self.own.id})
        Case = self.env["crm.mail.case"]
        # Own: the cases assigned to the user (or taken part in), nothing else.
        self.assertEqual(
            Case.with_user(self.own).search([("id", "in", (theirs | ours | mine).ids)]), mine
        )
        with self.assertRaises(AccessError):
            theirs.with_user(self.own).read(["subject"])
        with self.assertRaises(AccessError):
            theirs.with_user(self.own).write({"subject": "edited"})
        # Team: its team's cases.
        self.assertEqual(
            Case.with_user(self.agent).search([("id", "in", (theirs | ours | mine).ids)]), ours
        )
        # All reads every case; only a Case Manager deletes.
        self.assertEqual(
            len(Case.with_user(self.reader).search([("id", "in", (theirs | ours).ids)])), 2
        )
        with self.assertRaises(AccessError):
            theirs.with_user(self.reader).unlink()
        manager = new_test_user(
            self.env,
            login="finding_case_manager",
            groups="crm_mail_sync.group_crm_mail_case_manager",
        )
        theirs.with_user(manager).unlink()
        self.assertFalse(theirs.exists())
        # A case's emails follow the same rule: its assignee reads them.
        self.enable_cases()
        self.account.case_user_id = self.own
        email = self.deliver(self.mail("Assigned to Own", body=SECRET))
        self.assertEqual(email.case_id.user_id, self.own)
        self.assertIn(SECRET, self.chatter_json(email.case_id, self.own))

    def test_finding_03_a_stranger_cannot_join_a_case_by_its_message_id(self):
        self.enable_cases()
        first = self.deliver(self.mail("Broken quokka", message_id="<q1@quokka.example>"))
        case = first.case_id
        self.assertTrue(case)
        self.deliver(
            self.mail(
                "Re: Broken quokka",
                sender="evil@attacker.example",
                extra_headers=[
                    "In-Reply-To: <q1@quokka.example>",
                    "References: <q1@quokka.example>",
                ],
            )
        )
        stranger = self.Email.search([("from_address", "=", "evil@attacker.example")])
        self.assertNotEqual(stranger.case_id, case)
        self.assertNotIn(("crm.mail.case", case.id), self.targets(stranger))
        self.assertIn(case.display_name, stranger.routing_note)
        self.assertFalse(self.chatter_entries(case, stranger))
        # A participant's reply joins.
        reply = self.mail("Re: Broken quokka", extra_headers=["In-Reply-To: <q1@quokka.example>"])
        self.deliver(reply)
        joined = self.Email.search(
            [("subject", "=", "Re: Broken quokka"), ("from_address", "=", "quinn@quokka.example")]
        )
        self.assertEqual(joined.case_id, case)

    def test_finding_03b_the_token_of_our_mail_lets_a_forwarded_reply_in(self):
        self.enable_cases()
        case = self.deliver(self.mail("Token quokka")).case_id
        sent = case.with_user(self.agent).message_post(
            body="Here is the answer.",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            partner_ids=self.contact.ids,
        )
        self.assertTrue(sent.message_id.startswith("<crm-"))
        # Someone the customer forwarded our answer to replies to it.
        self.deliver(
            self.mail(
                "Re: Token quokka",
                sender="colleague@quokka-partner.example",
                extra_headers=[f"In-Reply-To: {sent.message_id}"],
            )
        )
        forwarded = self.Email.search([("from_address", "=", "colleague@quokka-partner.example")])
        self.assertEqual(forwarded.case_id, case)
        # A forged token (right shape, wrong tag) does not.
        nonce, tag, rest = re.match(r"<crm-(\w{16})-(\w{16})-(.*)", sent.message_id).groups()
        forged = f"<crm-{nonce}-{tag[:-1]}{'1' if tag[-1] == '0' else '0'}-{rest}"
        self.deliver(
            self.mail(
                "Re: Forged",
                sender="evil@attacker.example",
                extra_headers=[f"In-Reply-To: {forged}"],
            )
        )
        self.assertNotEqual(self.Email.search([("subject", "=", "Re: Forged")]).case_id, case)

    def test_finding_04_deleting_an_email_deletes_its_chatter_entries_and_files(self):
        email = self.deliver(
            _with_file("Delete me", "Quinn <quinn@quokka.example>", self.account.email, SECRET)
        )
        # A copy of its file saved onto the lead.
        wizard = self.env["crm.mail.attachment.wizard"].create(
            {"email_id": email.id, "target": f"crm.lead,{self.lead.id}"}
        )
        wizard.attachment_ids = email.attachment_ids
        wizard.action_save()
        self.assertEqual(self.env["ir.attachment"].search_count([("name", "=", "plan.pdf")]), 2)
        entries = email.link_ids.mail_message_id
        self.assertEqual(len(entries), 3)
        email.with_user(self.mail_admin).unlink()
        self.assertFalse(entries.exists())
        for record in (self.contact, self.company, self.lead):
            self.assertFalse(record.message_ids.filtered(lambda m: m.message_type == "email"))
        self.assertEqual(self.env["ir.attachment"].search_count([("name", "=", "plan.pdf")]), 0)

    def test_finding_05_excluding_our_own_domain_keeps_inbound_mail_linked(self):
        own_domain = self.account.email.rpartition("@")[2]
        self.env["ir.config_parameter"].set_param("crm_mail_sync.excluded_domains", own_domain)
        email = self.deliver(self.mail("From a customer"))
        self.assertFalse(email.is_private)
        self.assertFalse(email.no_link)
        self.assertIn(("res.partner", self.contact.id), self.targets(email))
        # A counterpart in an excluded domain still keeps the email apart.
        self.env["ir.config_parameter"].set_param(
            "crm_mail_sync.excluded_domains", f"{own_domain}, quokka.example"
        )
        self.deliver(self.mail("Excluded counterpart"))
        excluded = self.Email.search([("subject", "=", "Excluded counterpart")])
        self.assertTrue(excluded.is_private)
        self.assertFalse(excluded.link_ids)

    def test_finding_06_first_email_and_its_reply_in_one_batch_make_one_case(self):
        self.enable_cases()
        emails = self.deliver(
            self.mail("Batch quokka", message_id="<b1@quokka.example>"),
            self.mail(
                "Re: Batch quokka",
                message_id="<b2@quokka.example>",
                extra_headers=["In-Reply-To: <b1@quokka.example>"],
            ),
        )
        self.assertEqual(len(emails), 2)
        self.assertEqual(len(emails.case_id), 1)
        self.assertEqual(emails.case_id.email_count, 2)

    def test_finding_07_a_case_reply_and_its_sent_copy_are_one_chatter_entry(self):
        self.enable_cases()
        case = self.deliver(self.mail("Sent copy quokka")).case_id
        sent = (
            case.with_user(self.agent)
            .with_context(mail_notify_force_send=False)
            .message_post(
                body="We are on it.",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.contact.ids,
            )
        )
        with patch("odoo.modules.module.current_test", None):
            self.env["mail.mail"].sudo().search([("state", "=", "outgoing")]).send()
        raws = [m["raw"] for m in self.sink.messages if b"quinn@quokka.example" in m["raw"].lower()]
        self.assertEqual(len(raws), 1)
        as_sent = email_lib.message_from_bytes(raws[0], policy=policy.default)
        self.assertEqual(as_sent["Message-ID"], sent.message_id)
        # The provider files its copy in the mailbox's Sent folder; the sync finds it.
        self.deliver(raws[0], folder="Sent")
        copy = self.Email.search([("message_id", "=", sent.message_id)])
        self.assertEqual(copy.direction, "outgoing")
        self.assertEqual(copy.case_id, case)
        on_case = case.message_ids.filtered(
            lambda m: m.message_id == sent.message_id or m.crm_mail_email_id == copy
        )
        self.assertEqual(on_case, sent)
        # The customer's contact gets the copy once too.
        self.assertEqual(len(self.chatter_entries(self.contact, copy)), 1)

    def test_finding_08_one_email_linked_thrice_notifies_a_follower_once(self):
        for record in (self.contact, self.company, self.lead):
            record.message_subscribe(partner_ids=self.reader.partner_id.ids)
        blind = new_test_user(self.env, login="finding_blind", notification_type="inbox")
        self.contact.message_subscribe(partner_ids=blind.partner_id.ids)
        email = self.deliver(self.mail("Notify once", body=SECRET))
        self.assertEqual(email.import_mode, "live")
        self.assertEqual(len(email.link_ids), 3)
        notifications = email.link_ids.mail_message_id.notification_ids
        mine = notifications.filtered(lambda n: n.res_partner_id == self.reader.partner_id)
        self.assertEqual(len(mine), 1)
        # A follower who may not read the email hears nothing of it.
        self.assertFalse(notifications.filtered(lambda n: n.res_partner_id == blind.partner_id))

    def test_finding_08b_a_reply_joining_a_case_notifies_a_follower_once(self):
        self.enable_cases()
        case = self.deliver(self.mail("Case once", message_id="<once@quokka.example>")).case_id
        for record in (self.contact, self.lead, case):
            record.message_subscribe(partner_ids=self.reader.partner_id.ids)
        self.deliver(
            self.mail("Re: Case once", extra_headers=["In-Reply-To: <once@quokka.example>"])
        )
        reply = self.Email.search([("subject", "=", "Re: Case once")])
        self.assertEqual(reply.case_id, case)
        self.assertIn("crm.mail.case", reply.link_ids.mapped("res_model"))
        notifications = reply.link_ids.mail_message_id.notification_ids
        mine = notifications.filtered(lambda n: n.res_partner_id == self.reader.partner_id)
        self.assertEqual(len(mine), 1)
        # On the case's entry: the most specific record it concerns.
        self.assertEqual(mine.mail_message_id.model, "crm.mail.case")

    def test_finding_09_retroactive_linking_honours_the_rules_and_is_indexed(self):
        self.env["crm.mail.filter"].create(
            {
                "name": "keep apart",
                "scope": "global",
                "action": "no_link",
                "from_pattern": "hush@quiet.example",
            }
        )
        self.env["ir.config_parameter"].set_param(
            "crm_mail_sync.excluded_domains", "secret.example"
        )
        self.deliver(
            self.mail("Filtered", sender="hush@quiet.example"),
            self.mail("Excluded", sender="spy@secret.example"),
        )
        hush = self.env["res.partner"].create({"name": "Hush", "email": "hush@quiet.example"})
        spy = self.env["res.partner"].create({"name": "Spy", "email": "spy@secret.example"})
        links = self.env["crm.mail.email.link"].search(
            [("res_model", "=", "res.partner"), ("res_id", "in", (hush | spy).ids)]
        )
        self.assertFalse(links)
        # The lookup is by index (sender btree, recipients GIN), not a scan of the archive.
        Email = self.Email
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        self.env.cr.execute(
            SQL(
                "EXPLAIN SELECT id FROM crm_mail_email WHERE %s",
                Email._address_condition("quinn@quokka.example"),
            )
        )
        plan = "\n".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("crm_mail_email_recipient_addresses_gin", plan)
        self.assertNotIn("Seq Scan on crm_mail_email", plan)
        # Saving a contact that keeps its address does not look the archive up again.
        self.deliver(self.mail("One"), self.mail("Two"))
        Request = self.env["crm.mail.link.request"]
        with patch.object(crm_mail_link_request, "BATCH_SIZE", 1):
            self.contact.write({"email": "Quinn@Quokka.example"})
            self.assertFalse(Request.search([("res_id", "=", self.contact.id)]))

    def test_finding_10_one_normaliser_for_idn_and_case(self):
        for address in (
            "Jörg@Bücher.de",
            "Bob@Example.ORG",
            "x@xn--bcher-kva.de",
            "ÉLODIE@exAmple.com",
            "<Ana.Case@Example.COM>",
        ):
            self.assertEqual(normalize_address(address), email_normalize(address), address)
        jorg = self.env["res.partner"].create({"name": "Jörg", "email": "Jörg@Bücher.de"})
        user = new_test_user(
            self.env,
            login="finding_idn",
            email="Sales@Bücher.de",
            groups="crm_mail_sync.group_crm_mail_user",
        )
        raw = (
            "From: =?utf-8?q?J=C3=B6rg?= <Jörg@Bücher.de>\r\n"
            "To: sales@xn--bcher-kva.de\r\n"
            f"Cc: {self.account.email}\r\n"
            "Subject: IDN\r\nMessage-ID: <idn@xn--bcher-kva.de>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n"
        ).encode()
        email = self.deliver(raw)
        self.assertIn(("res.partner", jorg.id), self.targets(email))
        self.assertEqual(self.Email.with_user(user).search([("id", "=", email.id)]), email)

    # ------------------------------------------------------------------
    # Other routes to an email's content found on the way
    # ------------------------------------------------------------------

    def test_chatter_entries_are_not_edited_or_deleted_by_hand(self):
        email = self.deliver(self.mail("Keep me", body=SECRET))
        entry = self.chatter_entries(self.contact, email)
        # The agent may write the contact, not the email's entry on it.
        self.assertTrue(self.contact.with_user(self.agent).has_access("write"))
        with self.assertRaises(AccessError):
            entry.with_user(self.agent).unlink()
        with self.assertRaises(AccessError):
            entry.with_user(self.agent).write({"body": "rewritten"})
        self.assertTrue(entry.exists())

    def test_composer_refuses_files_and_emails_the_user_may_not_read(self):
        email = self.deliver(
            _with_file("Not yours", "Quinn <quinn@quokka.example>", self.account.email, SECRET)
        )
        self.assertFalse(email.with_user(self.own).has_access("read"))
        outsider = self.own
        outsider.groups_id = [(4, self.env.ref("crm_mail_sync.group_crm_mail_personal").id)]
        login, password = self.new_mailbox("outsider")
        account = self.create_personal_account(outsider, login, password)
        account.sudo().smtp_server_id = self.smtp
        composer = (
            self.env["mail.compose.message"]
            .with_user(outsider)
            .create(
                {
                    "crm_mail_account_id": account.id,
                    "subject": "Fwd: Not yours",
                    "body": "<p>see</p>",
                    "crm_mail_email_to": "outsider@elsewhere.example",
                    "crm_mail_record_attachment_ids": [(6, 0, email.attachment_ids.ids)],
                }
            )
        )
        with self.assertRaises(AccessError):
            composer.action_send_mail()
        self.assertFalse(self.sink.messages)
