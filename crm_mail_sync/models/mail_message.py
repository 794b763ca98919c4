# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Chatter entries of synced emails: they show the email, they never hold it.

An email linked to a contact, a lead or a case appears in that record's chatter
as a ``mail.message`` that only points at the archived email (``crm_mail_email_id``):
no subject, body, sender, recipients or attachments are copied into it. What a
reader sees of the entry is asked of the email, through the email's own access
rules, whenever the entry is shown: the web client's chatter routes (``_to_store``),
ORM reads (``_read_format``) and chatter search (``_message_fetch``). A reader who
may open the record but not the email sees only that an email came or went, and
when. Nothing is stored where Odoo's own searches could find it (``message_ids`` is
searched by SQL join, without access rules), and deleting the email deletes its
entries.
"""

from contextlib import contextmanager

from markupsafe import Markup

from odoo import api, fields, models
from odoo.osv import expression

from odoo.addons.mail.tools.discuss import Store

# What a chatter entry of a synced email shows, or hides, of the email.
CONTENT_FIELDS = ("body", "subject", "email_from", "author_id", "attachment_ids")


class MailMessage(models.Model):
    _inherit = "mail.message"

    crm_mail_email_id = fields.Many2one(
        "crm.mail.email",
        string="Synced Email",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
        help="The archived email this chatter entry shows. The entry holds none of its "
        "content: the email's own access rules decide what each reader sees.",
    )

    @api.model_create_multi
    def create(self, values_list):
        # Mail sent about a linkable record (it gets a token Message-ID) also gets a
        # Reply-To with a signed plus tag when it goes to a synced mailbox: answers
        # join the record even without their references (crm.mail.linking).
        Linking = self.env["crm.mail.linking"]
        mailboxes = None
        for values in values_list:
            if values.get("message_id") or values.get("crm_mail_email_id"):
                continue
            values["message_id"] = self._get_message_id(values)
            if values.get("reply_to") and Linking._is_token_of(values["message_id"], values):
                if mailboxes is None:
                    mailboxes = Linking._mailbox_addresses()
                values["reply_to"] = Linking._plus_reply_to(
                    values["reply_to"], values["model"], values["res_id"], mailboxes=mailboxes
                )
        return super().create(values_list)

    @api.model
    def _get_message_id(self, values):
        # Mail sent about a linkable record carries a Message-ID that proves, in a
        # reply, that its sender got our mail (see crm.mail.email._find_thread_targets).
        token = self.env["crm.mail.linking"]._token_message_id_for(values)
        return token or super()._get_message_id(values)

    @api.model
    def _get_reply_to(self, values):
        # The default Reply-To of mail about a record (see create).
        reply_to = super()._get_reply_to(values)
        Linking = self.env["crm.mail.linking"]
        if reply_to and Linking._is_token_of(values.get("message_id"), values):
            reply_to = Linking._plus_reply_to(reply_to, values["model"], values["res_id"])
        return reply_to

    def _check_access(self, operation):
        result = super()._check_access(operation)
        if operation not in ("write", "unlink") or self.env.su or not self:
            return result
        if self.env.user.has_group("crm_mail_sync.group_crm_mail_manager"):
            return result
        # An entry belongs to its email: it goes with the email or with the link, never
        # by hand, or a record's writer could erase the history others rely on.
        allowed = self - result[0] if result else self
        entries = allowed.sudo().filtered("crm_mail_email_id").with_env(self.env)
        return refuse_also(result, entries, operation)

    def _crm_mail_contents(self):
        """Map the entries of ``self`` that show a synced email to ``(email, readable)``.

        ``readable`` is the email's own verdict for the current user, as when the
        user opens it in the archive; sudo only reads which email an entry shows.
        """
        entries = self.sudo().filtered("crm_mail_email_id")
        if not entries:
            return {}
        emails = entries.crm_mail_email_id
        # Whoever the environment is (sudo included), the verdict is the real user's.
        readable = emails.with_env(self.env(su=False))._filtered_access("read")
        return {
            entry.id: (entry.crm_mail_email_id, entry.crm_mail_email_id in readable)
            for entry in entries
        }

    def _read_format(self, fnames, load="_classic_read"):
        result = super()._read_format(fnames, load=load)
        shown = set(fnames) & set(CONTENT_FIELDS)
        if not shown or self.env.context.get("crm_mail_content_in_store"):
            return result
        contents = self._crm_mail_contents()
        if not contents:
            return result
        authors = self._crm_mail_authors(
            [email for email, readable in contents.values() if readable]
        )
        for values in result:
            if values["id"] not in contents:
                continue
            email, readable = contents[values["id"]]
            content = self._crm_mail_content(email, readable, authors.get(email.id))
            author = content["author_id"]
            formatted = {
                "body": content["body"],
                "subject": content["subject"],
                "email_from": content["email_from"],
                "author_id": (
                    (author.id, author.sudo().display_name)
                    if author and load == "_classic_read"
                    else author.id
                ),
                "attachment_ids": content["attachment_ids"].ids,
            }
            for fname in shown:
                values[fname] = formatted[fname]
        return result

    def _to_store(self, store: Store, /, **kwargs):
        # The content is added below for all the entries at once, not read per entry.
        super(MailMessage, self.with_context(crm_mail_content_in_store=True))._to_store(
            store, **kwargs
        )
        contents = self._crm_mail_contents()
        if not contents:
            return
        authors = self._crm_mail_authors(
            [email for email, readable in contents.values() if readable]
        )
        for message in self.filtered(lambda m: m.id in contents):
            email, readable = contents[message.id]
            content = self._crm_mail_content(email, readable, authors.get(email.id))
            store.add(
                message,
                {
                    "body": content["body"],
                    "subject": content["subject"],
                    "email_from": content["email_from"],
                    "author": Store.one(
                        content["author_id"].sudo(),
                        fields=["name", "is_company", "user", "write_date"],
                    ),
                    # sudo: the files of an email the reader may read (checked above);
                    # downloading one checks the email's access again.
                    "attachment_ids": Store.many(
                        content["attachment_ids"].sudo().sorted("id"),
                        fields=["checksum", "create_date", "filename", "mimetype", "name"]
                        + ["size", "type", "url"],
                    ),
                },
            )

    # ------------------------------------------------------------------
    # What an entry shows
    # ------------------------------------------------------------------

    @api.model
    def _crm_mail_content(self, email, readable, author=None):
        """What a chatter entry of ``email`` shows the current user.

        :param bool readable: the email's access verdict for that user
        :param author: the sender's partner, if any
        :return: dict of ``body``, ``subject``, ``email_from``, ``author_id`` and
            ``attachment_ids``, as the entry's fields would hold them
        """
        if not readable:
            return {
                "body": chatter_placeholder(self.env, email.direction),
                "subject": False,
                "email_from": False,
                "author_id": self.env["res.partner"],
                "attachment_ids": self.env["ir.attachment"],
            }
        # The reader's own view of the body: remote images stay blocked until shown.
        body = email.body_display or (
            Markup("<pre>%s</pre>") % email.body_text if email.body_text else Markup("")
        )
        return {
            "body": body or Markup("<p><em>%s</em></p>") % self.env._("(no text)"),
            "subject": email.subject or False,
            "email_from": email.email_from or False,
            "author_id": author or self.env["res.partner"],
            "attachment_ids": email.attachment_ids,
        }

    @api.model
    def _crm_mail_authors(self, emails):
        """Map email ids to the partner shown as their author (one query)."""
        emails = self.env["crm.mail.email"].browse([email.id for email in emails]).sudo()
        by_address = self.env["crm.mail.linking"]._get_author_partners(emails)
        return {
            email.id: email.sent_by_user_id.partner_id or by_address.get(email.from_address)
            for email in emails
        }

    @contextmanager
    def _crm_mail_content_cached(self, email):
        """Let Odoo's notification layout render this entry with ``email``'s content.

        The content is put in the entry's cache, never written: the entry keeps
        holding nothing; it is dropped from the cache on leaving.
        """
        self.ensure_one()
        content = self._crm_mail_content(email, True, self._crm_mail_authors(email).get(email.id))
        for fname in ("body", "subject", "email_from", "author_id"):
            field = self._fields[fname]
            self.env.cache.update(self, field, [field.convert_to_cache(content[fname], self)])
        try:
            yield
        finally:
            self.invalidate_recordset(["body", "subject", "email_from", "author_id"])

    @api.model
    def _message_fetch(
        self, domain, search_term=None, before=None, after=None, around=None, limit=30
    ):
        if not search_term:
            return super()._message_fetch(
                domain, before=before, after=after, around=around, limit=limit
            )
        # Odoo searches the text of the messages; a synced email's entry holds none, so
        # its email is searched instead, under the email's rules: a reader finds what
        # they may read and nothing else. The rest is Odoo's own search, unchanged.
        term = search_term.replace(" ", "%")
        Email = self.env["crm.mail.email"]
        emails = Email._search_chatter_term(term) if Email.has_access("read") else []
        domain = expression.AND(
            [
                domain,
                expression.OR(
                    [
                        # sudo: as in Odoo, attachments by name; access follows the message.
                        [
                            (
                                "attachment_ids",
                                "in",
                                self.env["ir.attachment"].sudo()._search([("name", "ilike", term)]),
                            )
                        ],
                        [("body", "ilike", term)],
                        [("subject", "ilike", term)],
                        [("subtype_id.description", "ilike", term)],
                        [("crm_mail_email_id", "in", emails)],
                    ]
                ),
                [("message_type", "not in", ["user_notification", "notification"])],
            ]
        )
        result = super()._message_fetch(
            domain, before=before, after=after, around=around, limit=limit
        )
        return {"count": self.search_count(domain), **result}


def chatter_placeholder(env, direction):
    """The body of an entry whose email the reader may not read: that it exists."""
    if direction == "outgoing":
        text = env._("An email was sent. You do not have access to its content.")
    else:
        text = env._("An email was received. You do not have access to its content.")
    return Markup('<p class="text-muted fst-italic">%s</p>') % text


def refuse_also(result, forbidden, operation):
    """``_check_access``'s ``result`` with ``forbidden`` records refused as well."""
    if not forbidden:
        return result
    if result:
        return (result[0] + forbidden, result[1])
    return (forbidden, lambda: forbidden._make_access_error(operation))
