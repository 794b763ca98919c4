# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Conversations: mail synced from a real Dovecot is threaded by its references, else
by a reply's subject between the same people within a week; a parent arriving after
its replies merges their conversations; what a user sees of a conversation comes from
the emails they may read."""

import importlib.util
import os
import uuid
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import BaseCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..lib.threading import DisjointSet, fold_quotes, normalize_subject, same_people
from .common import CrmMailSyncCase

CARL = "carl@customer.example"


def _mid():
    return f"<{uuid.uuid4().hex}@example.com>"


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestThreadingLib(BaseCase):
    def test_normalize_subject(self):
        for subject, expected in (
            ("Your order", ("your order", False)),
            ("Re: Your order", ("your order", True)),
            ("RE: re:  Your   order", ("your order", True)),
            ("AW: [Support] Re: Your order", ("your order", True)),
            ("Fwd: Fw: Your order", ("your order", True)),
            ("SV: Tr: Your order", ("your order", True)),
            ("Re : Your order", ("your order", True)),
            ("Re[2]: Your order", ("your order", True)),
            ("Odp: Your order", ("your order", True)),
            ("[EXT] Your order", ("your order", False)),
            ("Regarding your order", ("regarding your order", False)),
            ("Re:", ("", True)),
            (None, ("", False)),
        ):
            self.assertEqual(normalize_subject(subject), expected, subject)

    def test_same_people(self):
        self.assertTrue(same_people("a@x", {"a@x", "b@y"}, "b@y", {"b@y", "a@x"}))
        # Two customers writing to the same mailbox are not the same people.
        self.assertFalse(same_people("a@x", {"a@x", "s@us"}, "c@z", {"c@z", "s@us"}))
        self.assertFalse(same_people(None, {"a@x"}, "a@x", {"a@x"}))

    def test_disjoint_set_merges(self):
        nodes = DisjointSet()
        for node in "abcd":
            nodes.add(node)
        nodes.union("a", "b")
        nodes.union("c", "b")
        groups = sorted(sorted(group) for group in nodes.groups().values())
        self.assertEqual(groups, [["a", "b", "c"], ["d"]])

    def test_fold_quotes(self):
        plain = "<p>Thanks!</p><p>On Mon, 1 Jan 2024, Bob wrote:<br>&gt; old</p>"
        folded = fold_quotes(plain, "Quoted")
        self.assertEqual(
            folded,
            '<p>Thanks!</p><details class="o_crm_mail_quote"><summary>Quoted</summary>'
            "<p>On Mon, 1 Jan 2024, Bob wrote:<br>&gt; old</p></details>",
        )
        gmail = '<div><p>Yes</p><div class="gmail_quote">x<blockquote>old</blockquote></div></div>'
        self.assertIn(
            '<details class="o_crm_mail_quote"><summary>Q</summary><div class="gmail_quote">',
            fold_quotes(gmail, "Q"),
        )
        outlook = (
            "<div><p>Sure</p><div><p><b>From:</b> Bob<br><b>Sent:</b> Monday</p></div>"
            "<p>old</p></div>"
        )
        folded = fold_quotes(outlook, "Q")
        self.assertIn("<p>Sure</p><details", folded)
        self.assertIn("<p>old</p></details>", folded)
        self.assertIn("<blockquote>", fold_quotes("<p>a</p><blockquote>b</blockquote>", "Q"))
        self.assertIn("<details", fold_quotes("<p>a</p><blockquote>b</blockquote>", "Q"))
        self.assertEqual(fold_quotes("<p>No quote here</p>", "Q"), "<p>No quote here</p>")


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestConversations(CrmMailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Conversation = cls.env["crm.mail.conversation"]
        cls.reader = new_test_user(
            cls.env,
            login="conv_reader",
            email="reader@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )
        cls.colleague = new_test_user(
            cls.env,
            login="conv_colleague",
            email="colleague@ourcompany.example",
            groups="base.group_user,crm_mail_sync.group_crm_mail_all",
        )

    def setUp(self):
        super().setUp()
        self.login, password = self.new_mailbox("conv")
        self.account = self.create_account(self.login, password, name="Support")
        self.connect(self.account)
        self.us = self.account.email

    def deliver(self, *raws):
        for raw in raws:
            self.dovecot.append(self.login, "INBOX", raw)
        self.sync(self.account)

    def email(self, message_id):
        return self.Email.search([("message_id", "=", message_id)])

    def msg(self, message_id, subject, sender, to, days_ago, body="Hi", headers=()):
        return self.message(
            message_id=message_id,
            subject=subject,
            sender=sender,
            to=to,
            body=body,
            date=self.days_ago(days_ago),
            extra_headers=list(headers),
        )

    # ------------------------------------------------------------------
    # Threading
    # ------------------------------------------------------------------

    def test_replies_are_one_conversation(self):
        first, second, third, fourth = _mid(), _mid(), _mid(), _mid()
        self.deliver(
            self.msg(first, "Late delivery", CARL, self.us, 5),
            self.msg(
                second, "Re: Late delivery", self.us, CARL, 4, headers=[f"In-Reply-To: {first}"]
            ),
        )
        # The next replies come in a later sync: they join the stored conversation.
        self.deliver(
            self.msg(
                third,
                "RE: Late delivery",
                CARL,
                self.us,
                3,
                headers=[f"In-Reply-To: {second}", f"References: {first} {second}"],
            ),
            # References only (no In-Reply-To), and a changed subject.
            self.msg(fourth, "Delivery, again", self.us, CARL, 2, headers=[f"References: {third}"]),
        )
        emails = self.email(first) | self.email(second) | self.email(third) | self.email(fourth)
        self.assertEqual(len(emails), 4)
        conversation = emails.conversation_id
        self.assertEqual(len(conversation), 1)
        self.assertEqual(conversation.subject_key, "late delivery")
        self.assertEqual(conversation.last_date, self.email(fourth).date)
        reader_view = conversation.with_user(self.reader)
        self.assertEqual(reader_view.email_count, 4)
        self.assertEqual(reader_view.subject, "Late delivery")
        self.assertEqual(reader_view.display_name, "Late delivery")
        self.assertIn(CARL, reader_view.participants)
        # The inbox groups by conversation: one group of four.
        groups = self.Email.with_user(self.reader).read_group(
            [("id", "in", emails.ids)], ["conversation_id"], ["conversation_id"]
        )
        self.assertEqual([group["conversation_id_count"] for group in groups], [4])

    def test_reply_by_subject_within_window(self):
        first, reply = _mid(), _mid()
        self.deliver(self.msg(first, "Quote for 40 chairs", CARL, self.us, 6))
        # A client that drops the references: "AW:" and the same people, two days on.
        self.deliver(self.msg(reply, "AW: Quote for 40 chairs", self.us, CARL, 4))
        self.assertEqual(self.email(reply).conversation_id, self.email(first).conversation_id)

    def test_subject_alone_does_not_join(self):
        first, late, stranger, fresh = _mid(), _mid(), _mid(), _mid()
        self.deliver(self.msg(first, "Invoice 2024", CARL, self.us, 30))
        self.deliver(
            # Outside the window.
            self.msg(late, "Re: Invoice 2024", self.us, CARL, 15),
            # Somebody else, within the window.
            self.msg(stranger, "Re: Invoice 2024", "dave@other.example", self.us, 29),
            # The same people, but no reply prefix: a new conversation.
            self.msg(fresh, "Invoice 2024", CARL, self.us, 29),
        )
        conversations = [
            self.email(message_id).conversation_id for message_id in (first, late, stranger, fresh)
        ]
        self.assertTrue(all(conversations))
        self.assertEqual(len(set(conversations)), 4, "four separate conversations")

    def test_parent_arriving_late_merges(self):
        root, middle, leaf = _mid(), _mid(), _mid()
        self.deliver(
            self.msg(root, "Contract", CARL, self.us, 5),
            self.msg(
                leaf, "Re: Contract terms", CARL, self.us, 3, headers=[f"In-Reply-To: {middle}"]
            ),
        )
        leaf_conversation = self.email(leaf).conversation_id
        # Another subject: the subject rule does not join it; its parent is missing.
        self.assertNotEqual(leaf_conversation, self.email(root).conversation_id)
        self.deliver(
            self.msg(middle, "Re: Contract", self.us, CARL, 4, headers=[f"In-Reply-To: {root}"])
        )
        conversation = self.email(root).conversation_id
        self.assertEqual(self.email(middle).conversation_id, conversation)
        self.assertEqual(self.email(leaf).conversation_id, conversation)
        self.assertFalse(leaf_conversation.exists(), "the later conversation merged away")
        self.assertEqual(len(conversation.email_ids), 3)

    def test_sent_mail_joins(self):
        first = _mid()
        self.deliver(self.msg(first, "Brochure", CARL, self.us, 2))
        raw = self.msg(_mid(), "Re: Brochure", self.us, CARL, 0, headers=[f"In-Reply-To: {first}"])
        sent = self.Gateway._archive_sent(self.account, raw, {})
        self.assertEqual(sent.direction, "outgoing")
        self.assertEqual(sent.conversation_id, self.email(first).conversation_id)

    def test_migration_backfills(self):
        first, reply = _mid(), _mid()
        self.deliver(
            self.msg(first, "Old thread", CARL, self.us, 3),
            self.msg(reply, "Re: Old thread", self.us, CARL, 2, headers=[f"References: {first}"]),
        )
        emails = self.email(first) | self.email(reply)
        emails.conversation_id.unlink()
        self.assertFalse(emails.conversation_id)
        path = os.path.join(
            os.path.dirname(os.path.dirname(__file__)),
            "migrations",
            "18.0.1.5.0",
            "post-migrate_conv.py",
        )
        spec = importlib.util.spec_from_file_location("crm_mail_sync_post_migrate_conv", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.4.0")
        emails.invalidate_recordset()
        self.assertEqual(len(emails.conversation_id), 1)

    def partition(self, emails):
        """The conversations of ``emails`` as sets of Message-IDs."""
        groups = {}
        for email in emails:
            groups.setdefault(email.conversation_id.id, set()).add(email.message_id)
        return sorted(sorted(group) for group in groups.values())

    def test_threaded_when_stored(self):
        parent, reply, loose, fresh, late, answer = (_mid() for _ in range(6))
        unthreaded = []
        thread_step = type(self.Gateway)._thread

        def spy(gateway, batch):
            # What the import's threading step receives: emails with a conversation.
            unthreaded.extend(batch.new_emails.filtered(lambda email: not email.conversation_id))
            return thread_step(gateway, batch)

        with patch.object(type(self.Gateway), "_thread", spy):
            # One batch: a parent, its reply, a reply by its subject alone, and another
            # customer's mail of the same subject (a conversation of its own).
            self.deliver(
                self.msg(parent, "Shipment 12", CARL, self.us, 6),
                self.msg(
                    reply, "Re: Shipment 12", self.us, CARL, 5, headers=[f"In-Reply-To: {parent}"]
                ),
                self.msg(loose, "Re: Shipment 12", CARL, self.us, 4),
                self.msg(fresh, "Shipment 12", "dave@other.example", self.us, 4),
            )
            # A later batch: a reply by its subject, and one by its references to a
            # stored email.
            self.deliver(
                self.msg(late, "AW: Shipment 12", self.us, CARL, 2),
                self.msg(
                    answer, "Re: Shipment 12", CARL, self.us, 1, headers=[f"References: {reply}"]
                ),
            )
        self.assertFalse(unthreaded, "every email is in its conversation when created")
        emails = self.Email.search(
            [("message_id", "in", [parent, reply, loose, fresh, late, answer])]
        )
        expected = [sorted([fresh]), sorted([parent, reply, loose, late, answer])]
        self.assertEqual(self.partition(emails), sorted(expected))
        conversation = self.email(parent).conversation_id
        self.assertEqual(conversation.last_date, self.email(answer).date)
        self.assertEqual(conversation.subject_key, "shipment 12")
        self.assertEqual(self.email(fresh).conversation_id.last_date, self.email(fresh).date)
        # The same emails threaded after they were stored (the migration's and sent
        # mail's path) give the same conversations.
        emails.conversation_id.unlink()
        emails.invalidate_recordset()
        self.assertFalse(emails.conversation_id)
        emails.sorted(lambda email: (email.date, email.id))._crm_mail_thread()
        self.assertEqual(self.partition(emails), sorted(expected))
        self.assertEqual(self.email(parent).conversation_id.last_date, self.email(answer).date)

    def test_threaded_one_by_one_after_a_failed_batch(self):
        account = self.local_account("conv_fallback")
        folder = account.folder_ids
        us = account.email
        parent, reply, poison = _mid(), _mid(), _mid()
        Conversation = self.Conversation.sudo()
        empty_before = Conversation.search_count([("email_ids", "=", False)])
        open_cases = type(self.Gateway)._open_cases

        def failing(gateway, batch):
            # The batch fails after it was stored and threaded: it is stored again one
            # message at a time, the poisoned one alone put aside.
            if "Poison" in batch.new_emails.mapped("subject"):
                raise ValueError("poisoned")
            return open_cases(gateway, batch)

        with (
            patch.object(type(self.Gateway), "_open_cases", failing),
            mute_logger("odoo.addons.crm_mail_sync.models.crm_mail_gateway"),
        ):
            batch = self.import_raw(
                folder,
                [
                    self.msg(parent, "Pallets", CARL, us, 3),
                    self.msg(poison, "Poison", CARL, us, 3),
                    self.msg(reply, "Re: Pallets", us, CARL, 2, headers=[f"In-Reply-To: {parent}"]),
                ],
            )
        self.assertEqual(len(batch.failed), 1)
        self.assertFalse(self.email(poison))
        conversation = self.email(parent).conversation_id
        self.assertTrue(conversation)
        self.assertEqual(self.email(reply).conversation_id, conversation)
        self.assertEqual(conversation.last_date, self.email(reply).date)
        # The conversations of the rolled-back attempt went with it.
        self.assertEqual(Conversation.search_count([("email_ids", "=", False)]), empty_before)

    # ------------------------------------------------------------------
    # What a user sees
    # ------------------------------------------------------------------

    def test_unread_follows_read_state(self):
        first, reply = _mid(), _mid()
        self.deliver(
            self.msg(first, "Samples", CARL, self.us, 3),
            self.msg(reply, "Re: Samples", self.us, CARL, 2, headers=[f"In-Reply-To: {first}"]),
        )
        conversation = self.email(first).conversation_id
        Conversation = self.Conversation.with_user(self.reader)
        self.assertTrue(conversation.with_user(self.reader).is_unread)
        self.assertIn(conversation, Conversation.search([("is_unread", "=", True)]))
        (self.email(first) | self.email(reply)).with_user(self.reader).action_mark_read()
        conversation.invalidate_recordset()
        self.assertFalse(conversation.with_user(self.reader).is_unread)
        self.assertNotIn(conversation, Conversation.search([("is_unread", "=", True)]))
        self.assertIn(conversation, Conversation.search([("is_unread", "=", False)]))
        # Per user: the colleague has read nothing.
        self.assertTrue(conversation.with_user(self.colleague).is_unread)
        # A new request, as in the web client: the read state written under sudo is
        # not in this test's cache of the user's is_read.
        self.env.invalidate_all()
        self.email(reply).with_user(self.reader).action_mark_unread()
        conversation.invalidate_recordset()
        self.assertTrue(conversation.with_user(self.reader).is_unread)
        # Marking the conversation read marks its emails read, for that user.
        conversation.with_user(self.colleague).action_mark_read()
        self.env.invalidate_all()
        self.assertTrue(self.email(reply).with_user(self.colleague).is_read)
        self.assertFalse(self.email(reply).with_user(self.reader).is_read)

    def test_access_through_the_conversation(self):
        user = self.mail_user  # the Own level: only mail addressed to them
        first, reply, other = _mid(), _mid(), _mid()
        self.deliver(
            self.msg(
                first,
                "Pricing",
                CARL,
                f"{self.us}, dave@secret.example",
                3,
                body="TOPSECRET margin",
            ),
            self.msg(
                reply,
                "Re: Pricing",
                self.us,
                f"{CARL}, {user.email}",
                2,
                body="Visible answer",
                headers=[f"In-Reply-To: {first}"],
            ),
            self.msg(other, "Unrelated", CARL, self.us, 2),
        )
        conversation = self.email(first).conversation_id
        self.assertEqual(self.email(reply).conversation_id, conversation)
        mine = conversation.with_user(user)
        self.assertEqual(mine.email_count, 1)
        self.assertEqual(mine.subject, "Re: Pricing")
        self.assertNotIn("dave@secret.example", mine.participants)
        self.assertIn(user.email, mine.participants)
        # The threading's subject key comes from the first email, unreadable here: it
        # is not offered (export dialog, search) nor readable by the user.
        self.assertNotIn("subject_key", mine.fields_get())
        with self.assertRaises(AccessError):
            mine.read(["subject_key"])
        # The thread on the email's form holds the readable email only.
        email = self.email(reply).with_user(user)
        self.assertEqual(email.conversation_count, 1)
        self.assertIn("Visible answer", email.conversation_html)
        self.assertNotIn("TOPSECRET", email.conversation_html)
        # A conversation of emails the user may not read is not theirs to see.
        hidden = self.email(other).conversation_id
        Conversation = self.Conversation.with_user(user)
        found = Conversation.search([("id", "in", (conversation | hidden).ids)])
        self.assertEqual(found, conversation)
        with self.assertRaises(AccessError):
            hidden.with_user(user).read(["subject"])
        groups = self.Email.with_user(user).read_group(
            [("conversation_id", "=", conversation.id)], ["conversation_id"], ["conversation_id"]
        )
        self.assertEqual([group["conversation_id_count"] for group in groups], [1])
        # The reader of everything sees both emails and both bodies.
        full = self.email(reply).with_user(self.reader)
        self.assertEqual(full.conversation_count, 2)
        html = full.conversation_html
        self.assertLess(html.index("TOPSECRET"), html.index("Visible answer"), "oldest first")

    def test_thread_view_folds_quotes_and_blocks_images(self):
        first, reply = _mid(), _mid()
        html_reply = (
            f"From: {self.us}\r\nTo: {CARL}\r\nSubject: Re: Catalogue\r\n"
            f"Message-ID: {reply}\r\nIn-Reply-To: {first}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            '<p>Here it is <img src="https://tracker.example/pixel.png"></p>'
            "<blockquote>Can I get the catalogue?</blockquote>\r\n"
        ).encode()
        self.deliver(self.msg(first, "Catalogue", CARL, self.us, 1), html_reply)
        email = self.email(reply).with_user(self.reader)
        html = email.conversation_html
        self.assertIn("<details", html)
        self.assertRegex(html, r"<details[^>]*><summary>[^<]+</summary><blockquote")
        self.assertNotRegex(html, r'\ssrc="https://tracker.example/pixel.png"')
        self.assertIn("data-crm-blocked-src", html)
        email.action_show_remote_images()
        email.invalidate_recordset()
        self.assertRegex(email.conversation_html, r'\ssrc="https://tracker.example/pixel.png"')
