# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
import logging
import socket
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta, timezone
from email.utils import formataddr, getaddresses, parseaddr

from markupsafe import Markup
from psycopg2 import Error as PsycopgError

from odoo import Command, api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..fields import SanitizeOnceHtml
from ..lib.addresses import address_forms, domain_of, normalize_address
from ..lib.concurrency import is_concurrency_error
from ..lib.filters import domain_excluded, evaluate
from ..lib.fingerprint import content_fingerprint, message_key
from ..lib.freemail import is_freemail
from ..lib.loops import auto_reply_blocker
from ..lib.mime_parser import MessageParseError, parse_message
from ..lib.remote_images import block_remote_images
from ..lib.thread_token import make_message_id, read_message_id
from .crm_mail_case import CASE_REFERENCE
from .mail_message import chatter_placeholder

_logger = logging.getLogger(__name__)


def _split_addresses(text):
    """The addresses of a header value, each formatted as 'Name <address>'."""
    return [formataddr(pair) for pair in getaddresses([text or ""]) if pair[1]]


def _without(addresses, own):
    """``addresses`` minus those in ``own`` (normalised) and minus repeats."""
    seen, result = set(own), []
    for address in addresses:
        normalized = normalize_address(parseaddr(address)[1])
        if normalized and normalized not in seen:
            seen.add(normalized)
            result.append(address)
    return result


def _clean(text):
    """PostgreSQL text cannot hold NUL characters; hostile mail may contain them."""
    return text.replace("\x00", "") if text else text


class CrmMailEmail(models.Model):
    _name = "crm.mail.email"
    _description = "Email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char(
        string="Message-ID",
        required=True,
        readonly=True,
        index=True,
        help="The Message-ID header, or a stable synthetic key for mail without one.",
    )
    fingerprint = fields.Char(
        required=True,
        readonly=True,
        help="Hash of the message's content. Two messages are the same email only when "
        "both the Message-ID and this fingerprint match, so a reused Message-ID "
        "never merges into somebody else's email.",
    )
    subject = fields.Char(readonly=True)
    email_from = fields.Char(string="From", readonly=True)
    from_address = fields.Char(
        string="Sender Address",
        readonly=True,
        index=True,
        help="The sender's address, normalised (lowercase).",
    )
    email_to = fields.Text(string="To", readonly=True)
    email_cc = fields.Text(string="Cc", readonly=True)
    reply_to = fields.Char(string="Reply-To", readonly=True)
    recipient_addresses = fields.Text(
        readonly=True,
        help="The normalised addresses of To and Cc, comma separated.",
    )
    date = fields.Datetime(readonly=True, index=True)
    in_reply_to = fields.Char(string="In-Reply-To", readonly=True, index=True)
    references = fields.Text(readonly=True)
    body_html = SanitizeOnceHtml(
        string="Body",
        readonly=True,
        sanitize_style=True,
        help="The HTML body, sanitised by Odoo's sanitizer.",
    )
    body_text = fields.Text(string="Text Body", readonly=True)
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing")],
        required=True,
        default="incoming",
        readonly=True,
        help="Outgoing: found in a Sent folder, or sent from the account's own address.",
    )
    import_mode = fields.Selection(
        [("archive", "Archive"), ("live", "Live")],
        required=True,
        default="live",
        readonly=True,
        help="Archive: the server had this mail before the account went live; it was "
        "stored and linked without notifications, auto-replies or case assignment.",
    )
    no_auto_reply_reason = fields.Char(
        string="No Auto-Reply Because",
        readonly=True,
        help="Why this email must never be answered automatically (RFC 3834).",
    )
    is_auto_submitted = fields.Boolean(
        readonly=True, help="An automatic message (auto-reply, bulk or list mail)."
    )
    size = fields.Integer(string="Size (bytes)", readonly=True)
    parse_warnings = fields.Text(
        readonly=True, help="Problems found in the message and how they were handled."
    )
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        domain=[("res_model", "=", "crm.mail.email")],
        string="Attachments",
        readonly=True,
    )
    has_attachments = fields.Boolean(readonly=True, index=True)
    location_ids = fields.One2many(
        "crm.mail.email.location", "email_id", string="Seen In", readonly=True
    )
    inbox_folder_id = fields.Many2one(
        "crm.mail.inbox.folder",
        string="Inbox Folder",
        index=True,
        readonly=True,
        help="Where a filter filed this email in the CRM inbox (not on the server).",
    )
    no_link = fields.Boolean(
        string="Not Linked",
        readonly=True,
        help="A filter or an excluded domain keeps this email from being linked to "
        "records or opening a case.",
    )
    no_notify = fields.Boolean(
        string="No Notification", readonly=True, help="A filter silenced this email."
    )
    is_marked_read = fields.Boolean(
        string="Marked Read", readonly=True, help="A filter marked this email as read."
    )
    case_id = fields.Many2one(
        "crm.mail.case", string="Case", readonly=True, index=True, ondelete="set null"
    )
    team_ids = fields.Many2many(
        "crm.team",
        "crm_mail_email_team_rel",
        "email_id",
        "team_id",
        string="Teams",
        readonly=True,
        help="Teams the email is assigned to: the teams of the group mailbox it arrived in.",
    )
    address_user_ids = fields.Many2many(
        "res.users",
        "crm_mail_email_address_user_rel",
        "email_id",
        "user_id",
        string="Users Addressed",
        readonly=True,
        help="Users whose address is in From, To or Cc: they see the email at the 'Own' level.",
    )
    is_private = fields.Boolean(
        string="Private",
        readonly=True,
        help="Only the owner of the mailbox it came from and administrators see it.",
    )
    trashed_by_user_ids = fields.Many2many(
        "res.users",
        "crm_mail_email_trash_rel",
        "email_id",
        "user_id",
        string="In the Trash Of",
        readonly=True,
    )
    is_in_my_trash = fields.Boolean(
        compute="_compute_is_in_my_trash",
        search="_search_is_in_my_trash",
        string="In My Trash",
    )
    link_ids = fields.One2many(
        "crm.mail.email.link", "email_id", string="Linked Records", readonly=True
    )
    link_count = fields.Integer(compute="_compute_link_count", string="Links")
    account_ids = fields.Many2many(
        "crm.mail.account",
        "crm_mail_email_account_rel",
        "email_id",
        "account_id",
        string="Accounts",
        compute="_compute_account_ids",
        store=True,
    )

    sent_account_id = fields.Many2one(
        "crm.mail.account",
        string="Sent From",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The mailbox this email was sent from, when it was written in Odoo.",
    )
    sent_by_user_id = fields.Many2one(
        "res.users",
        string="Sent By",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The user who wrote and sent this email in Odoo.",
    )
    read_by_user_ids = fields.Many2many(
        "res.users",
        "crm_mail_email_read_rel",
        "email_id",
        "user_id",
        string="Read By",
        readonly=True,
    )
    starred_by_user_ids = fields.Many2many(
        "res.users",
        "crm_mail_email_star_rel",
        "email_id",
        "user_id",
        string="Starred By",
        readonly=True,
    )
    is_read = fields.Boolean(
        string="Read",
        compute="_compute_is_read",
        inverse="_inverse_is_read",
        search="_search_is_read",
        help="You have opened this email or marked it read (each user has their own).",
    )
    is_starred = fields.Boolean(
        string="Starred",
        compute="_compute_is_starred",
        inverse="_inverse_is_starred",
        search="_search_is_starred",
    )
    snippet = fields.Char(
        compute="_compute_snippet",
        store=True,
        help="The beginning of the text, shown in the inbox.",
    )
    is_linked = fields.Boolean(
        string="Linked",
        compute="_compute_is_linked",
        store=True,
        index=True,
        help="Linked to at least one contact, company, lead or case.",
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Contact",
        compute="_compute_partner_id",
        store=True,
        index="btree_not_null",
        help="The first contact or company the email is linked to.",
    )
    folder_ids = fields.Many2many(
        "crm.mail.folder",
        "crm_mail_email_folder_rel",
        "email_id",
        "folder_id",
        string="Folders",
        compute="_compute_folder_ids",
        store=True,
    )
    # Names, not relations, for the lists: a reader of the email may not be allowed
    # to read the mailbox it sits in (another user's personal account). Not stored:
    # a stored copy would rewrite the email row whenever another mailbox gains the
    # same message, and concurrent sync workers would conflict on it. Grouping uses
    # account_ids/folder_ids, whose group labels Odoo reads as superuser.
    account_names = fields.Char(
        string="Mailboxes",
        compute="_compute_location_names",
        compute_sudo=True,
        help="The mail accounts that hold this email.",
    )
    folder_names = fields.Char(
        string="In Folders",
        compute="_compute_location_names",
        compute_sudo=True,
        help="The folders that hold this email, as 'Mailbox / Folder'.",
    )
    remote_images_user_ids = fields.Many2many(
        "res.users",
        "crm_mail_email_remote_images_rel",
        "email_id",
        "user_id",
        string="Remote Images Shown To",
        readonly=True,
    )
    body_display = fields.Html(
        string="Message",
        compute="_compute_body_display",
        sanitize=False,  # derived from body_html, which is sanitised when stored
        help="The body, with remote images blocked until you choose to show them.",
    )
    has_blocked_images = fields.Boolean(compute="_compute_body_display")
    # Who the current user is to an email, for the access rules and the filters. Their
    # searches are plain "id IN (subquery)" conditions: PostgreSQL plans them cheaply
    # inside the OR of the rules, where a many2many "any" would be a correlated EXISTS
    # that it prices per row (and then compiles with JIT, for seconds on a large
    # archive).
    is_in_my_mailbox = fields.Boolean(
        string="In My Mailboxes",
        compute="_compute_is_mine",
        search="_search_is_in_my_mailbox",
        help="The email is in one of your personal mail accounts.",
    )
    is_addressed_to_me = fields.Boolean(
        string="Addressed to Me",
        compute="_compute_is_mine",
        search="_search_is_addressed_to_me",
        help="One of your addresses is in From, To or Cc.",
    )
    is_of_my_teams = fields.Boolean(
        string="Of My Teams",
        compute="_compute_is_mine",
        search="_search_is_of_my_teams",
        help="The email came into a group mailbox of one of your sales teams.",
    )
    routing_note = fields.Text(
        string="Routing Notes",
        readonly=True,
        help="Conversations this email refers to but was not let into, and why: a "
        "reply joins a record only from one of its participants, or when it answers "
        "mail sent from this database about that record.",
    )
    request_read_receipt = fields.Boolean(
        string="Read Receipt Requested",
        readonly=True,
        help="Sent with a Disposition-Notification-To header.",
    )

    _sql_constraints = [
        (
            "message_fingerprint_unique",
            "UNIQUE(message_id, fingerprint)",
            "This email is already stored.",
        ),
    ]

    # ------------------------------------------------------------------
    # Who may read an email
    # ------------------------------------------------------------------

    # Per-user state any reader may set on the emails they can read.
    USER_STATE_FIELDS = {"is_read", "is_starred"}

    @api.depends_context("uid")
    @api.depends("account_ids.user_id", "account_ids.account_type", "address_user_ids", "team_ids")
    def _compute_is_mine(self):
        user = self.env.user
        for email in self.sudo():
            email.is_in_my_mailbox = any(
                account.account_type == "personal" and account.user_id == user
                for account in email.account_ids
            )
            email.is_addressed_to_me = user in email.address_user_ids
            email.is_of_my_teams = bool(
                email.team_ids.filtered(
                    lambda team: team.user_id == user or user in team.crm_team_member_ids.user_id
                )
            )

    def _search_mine(self, operator, value, subquery):
        """``id IN subquery`` (or NOT IN) for a search on one of the is_* fields above."""
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on this field: %s %s", operator, value))
        inside = (operator == "=") == value
        return [("id", "in" if inside else "not in", subquery)]

    def _search_is_in_my_mailbox(self, operator, value):
        self.env["crm.mail.account"].flush_model(["user_id", "account_type", "active"])
        self.flush_model(["account_ids"])
        return self._search_mine(
            operator,
            value,
            SQL(
                """(SELECT rel.email_id FROM crm_mail_email_account_rel rel
                     JOIN crm_mail_account account ON account.id = rel.account_id
                    WHERE account.account_type = 'personal' AND account.active
                      AND account.user_id = %s)""",
                self.env.uid,
            ),
        )

    def _search_is_addressed_to_me(self, operator, value):
        self.flush_model(["address_user_ids"])
        return self._search_mine(
            operator,
            value,
            SQL(
                "(SELECT email_id FROM crm_mail_email_address_user_rel WHERE user_id = %s)",
                self.env.uid,
            ),
        )

    def _search_is_of_my_teams(self, operator, value):
        self.env["crm.team"].flush_model(["user_id", "active"])
        self.env["crm.team.member"].flush_model(["user_id", "crm_team_id", "active"])
        self.flush_model(["team_ids"])
        return self._search_mine(
            operator,
            value,
            SQL(
                """(SELECT rel.email_id FROM crm_mail_email_team_rel rel
                     JOIN crm_team team ON team.id = rel.team_id
                    WHERE team.active AND (team.user_id = %s OR EXISTS (
                          SELECT 1 FROM crm_team_member member
                           WHERE member.crm_team_id = team.id AND member.active
                             AND member.user_id = %s)))""",
                self.env.uid,
                self.env.uid,
            ),
        )

    @api.depends("subject")
    @api.depends_context("uid")
    def _compute_display_name(self):
        # Odoo names the target of a many2one as superuser (the email of a chatter
        # entry, of a draft...): only a reader of the email learns its subject there.
        readable = self.with_env(self.env(su=False))._filtered_access("read")
        for email in self:
            if email in readable:
                email.display_name = email.subject or self.env._("(no subject)")
            else:
                email.display_name = self.env._("Email")

    def action_make_private(self):
        """Button: only the owner of the mailbox (and administrators) see the email.

        Its chatter entries stay: they ask the email who may read it.
        """
        self._check_owner_or_admin()
        self.sudo().is_private = True
        return True

    def action_make_public(self):
        self._check_owner_or_admin()
        self.sudo().is_private = False
        return True

    def _check_owner_or_admin(self):
        self.check_access("read")
        if self.env.user.has_group("crm_mail_sync.group_crm_mail_manager"):
            return
        for email in self:
            if not any(
                account.account_type == "personal" and account.user_id == self.env.user
                for account in email.sudo().account_ids
            ):
                raise UserError(
                    self.env._("Only the owner of the mailbox can change this email's privacy.")
                )

    def unlink(self):
        """Deleting an email deletes what it put elsewhere: its chatter entry on every
        record it is linked to, and the copies of its files saved onto records."""
        self.check_access("unlink")
        # sudo: the entries and copies were written on the email's behalf; whoever may
        # delete the email may delete them.
        self.env["mail.message"].sudo().search([("crm_mail_email_id", "in", self.ids)]).unlink()
        self.env["ir.attachment"].sudo().search([("crm_mail_email_id", "in", self.ids)]).unlink()
        return super().unlink()

    # ------------------------------------------------------------------
    # Per-user state: read, starred, remote images
    # ------------------------------------------------------------------

    def write(self, vals):
        if not self.env.su and vals and set(vals) <= self.USER_STATE_FIELDS:
            # Readers keep their own state without write access to the email.
            self.check_access("read")
            return super(CrmMailEmail, self.sudo()).write(vals)
        return super().write(vals)

    @api.depends_context("uid")
    @api.depends("read_by_user_ids", "is_marked_read")
    def _compute_is_read(self):
        for email in self:
            email.is_read = email.is_marked_read or self.env.uid in email.read_by_user_ids.ids

    def _inverse_is_read(self):
        # One write per state for the whole selection, not one per email.
        read = self.filtered("is_read")
        unread = self - read
        read.read_by_user_ids = [Command.link(self.env.uid)]
        unread.read_by_user_ids = [Command.unlink(self.env.uid)]
        unread.filtered("is_marked_read").is_marked_read = False

    def _search_is_read(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        read = [
            "|",
            ("is_marked_read", "=", True),
            ("read_by_user_ids", "in", [self.env.uid]),
        ]
        if (operator == "=") == bool(value):
            return read
        return [
            ("is_marked_read", "=", False),
            ("read_by_user_ids", "not in", [self.env.uid]),
        ]

    @api.depends_context("uid")
    @api.depends("starred_by_user_ids")
    def _compute_is_starred(self):
        for email in self:
            email.is_starred = self.env.uid in email.starred_by_user_ids.ids

    def _inverse_is_starred(self):
        starred = self.filtered("is_starred")
        starred.starred_by_user_ids = [Command.link(self.env.uid)]
        (self - starred).starred_by_user_ids = [Command.unlink(self.env.uid)]

    def _search_is_starred(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        inside = (operator == "=") == bool(value)
        return [("starred_by_user_ids", "in" if inside else "not in", [self.env.uid])]

    def action_mark_read(self):
        """Mark these emails read for the current user."""
        self.filtered(lambda email: not email.is_read).write({"is_read": True})
        return True

    def action_mark_unread(self):
        """Mark these emails unread for the current user."""
        self.filtered("is_read").write({"is_read": False})
        return True

    def action_star(self):
        self.filtered(lambda email: not email.is_starred).write({"is_starred": True})
        return True

    def action_unstar(self):
        self.filtered("is_starred").write({"is_starred": False})
        return True

    # Mailboxes and folders in which grouping shows every holder of an email.
    _GROUP_BY_ANY_HOLDER = ("account_ids", "folder_ids")

    @api.model
    def _read_group_groupby(self, groupby_spec, query):
        # Odoo hides group values the reader may not read; a reader of an email may
        # not open another user's personal mailbox, yet grouping by mailbox must not
        # lump it under "None". The emails themselves are filtered by the caller's
        # rules already (``query``); sudo only drops the mailbox/folder rules, and
        # Odoo reads group labels as superuser anyway.
        if groupby_spec in self._GROUP_BY_ANY_HOLDER:
            return super(CrmMailEmail, self.sudo())._read_group_groupby(groupby_spec, query)
        return super()._read_group_groupby(groupby_spec, query)

    @api.model
    def search_panel_select_multi_range(self, field_name, **kwargs):
        """The search panel lists folders under their mailbox: short names there."""
        if field_name == "folder_ids":
            self = self.with_context(crm_mail_folder_panel=True)
        return super().search_panel_select_multi_range(field_name, **kwargs)

    def web_read(self, specification):
        # Opening an email in the form (the only reader of the displayed body) reads it.
        if len(self) == 1 and "body_display" in specification:
            self.action_mark_read()
        return super().web_read(specification)

    # Odoo serves web_read on a read-only cursor; this one records the read state.
    web_read._readonly = False

    @api.depends("body_text")
    def _compute_snippet(self):
        for email in self:
            text = " ".join((email.body_text or "").split())
            email.snippet = text[:140]

    @api.depends("link_ids")
    def _compute_is_linked(self):
        for email in self:
            email.is_linked = bool(email.link_ids)

    @api.depends("link_ids.res_model", "link_ids.res_id")
    def _compute_partner_id(self):
        for email in self:
            links = email.link_ids.filtered(lambda link: link.res_model == "res.partner")
            email.partner_id = links[:1].res_id if links else False

    @api.depends(
        "account_ids.name",
        "folder_ids.name",
        "folder_ids.display_label",
        "folder_ids.account_id.name",
    )
    def _compute_location_names(self):
        for email in self:
            email.account_names = ", ".join(sorted(set(email.account_ids.mapped("name")))) or False
            email.folder_names = (
                ", ".join(
                    sorted(
                        {
                            f"{folder.account_id.name} / {folder.display_label or folder.name}"
                            for folder in email.folder_ids
                        }
                    )
                )
                or False
            )

    @api.depends("location_ids.folder_id")
    def _compute_folder_ids(self):
        self._assign_many2many_by_value(
            "folder_ids", {email: email.location_ids.folder_id for email in self}
        )

    def _assign_many2many_by_value(self, field_name, values):
        """Assign a computed many2many once per distinct value, not once per email.

        Odoo writes a stored many2many to its relation table on assignment, with a
        query or two each time; a batch of 500 new emails in one folder shares one
        value, so this makes one write of what would otherwise be 500.

        :param dict values: email record -> comodel recordset
        """
        groups = defaultdict(list)
        for email, value in values.items():
            groups[value].append(email.id)
        for value, email_ids in groups.items():
            self.browse(email_ids)[field_name] = value

    @api.depends_context("uid")
    @api.depends("body_html", "remote_images_user_ids")
    def _compute_body_display(self):
        for email in self:
            body = email.body_html
            if body and self.env.uid not in email.remote_images_user_ids.ids:
                blocked, count = block_remote_images(str(body))
                email.body_display = Markup(blocked)
                email.has_blocked_images = bool(count)
            else:
                email.body_display = body
                email.has_blocked_images = False

    def action_show_remote_images(self):
        """Button: load this email's remote images for the current user."""
        self.check_access("read")
        # sudo: a per-user preference, set by whoever may read the email.
        self.sudo().remote_images_user_ids = [Command.link(self.env.uid)]
        return True

    @api.model
    def action_fetch_my_accounts(self):
        """Inbox button: fetch now the mailboxes of the current user."""
        accounts = self.env["crm.mail.account"].search(
            [("account_type", "=", "personal"), ("user_id", "=", self.env.uid)]
        )
        if self.env.user.has_group("crm_mail_sync.group_crm_mail_manager"):
            accounts |= self.env["crm.mail.account"].search([("account_type", "=", "group")])
        if not accounts:
            raise UserError(
                self.env._("You have no mail account: add one under Configuration > Mail Accounts.")
            )
        return accounts.action_sync()

    def action_open_save_attachments(self):
        """Button: copy this email's attachments onto a record."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Save Attachments to a Record"),
            "res_model": "crm.mail.attachment.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_email_id": self.id},
        }

    @api.depends_context("uid")
    @api.depends("trashed_by_user_ids")
    def _compute_is_in_my_trash(self):
        for email in self:
            email.is_in_my_trash = self.env.uid in email.sudo().trashed_by_user_ids.ids

    def _search_is_in_my_trash(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        inside = (operator == "=") == bool(value)
        return [("trashed_by_user_ids", "in" if inside else "not in", [self.env.uid])]

    def action_move_to_trash(self):
        """Hide these emails from the current user only; undo with Restore."""
        self.check_access("read")
        # sudo: the trash is per user; users do not write emails otherwise.
        self.sudo().write({"trashed_by_user_ids": [Command.link(self.env.uid)]})
        return True

    def action_restore_from_trash(self):
        """Take these emails out of the current user's trash."""
        self.check_access("read")
        self.sudo().write({"trashed_by_user_ids": [Command.unlink(self.env.uid)]})
        return True

    @api.depends("link_ids")
    def _compute_link_count(self):
        for email in self:
            email.link_count = len(email.link_ids)

    @api.depends("location_ids.account_id", "sent_account_id")
    def _compute_account_ids(self):
        self._assign_many2many_by_value(
            "account_ids",
            {email: email.location_ids.account_id | email.sent_account_id for email in self},
        )

    # ------------------------------------------------------------------
    # Import
    # ------------------------------------------------------------------

    @api.model
    def _import_messages(self, folder, items):
        """Store a batch of raw messages fetched from ``folder``.

        Each message is stored once, whatever folder or account it comes from: an
        email already stored only gains a location. Messages that cannot be parsed or
        stored go to the quarantine with their raw bytes; the rest of the batch goes on.

        :param folder: ``crm.mail.folder`` record the batch comes from
        :param list items: dicts with ``raw`` (bytes) and ``uid`` (IMAP) or
            ``pop_uidl`` (POP3); optional ``internal_date``, ``flags``, ``since``
            (skip older mail) and ``quarantine`` (the entry being retried)
        :return: dict with ``imported`` (new locations recorded, i.e. emails imported
            for the account) and ``quarantined`` (messages put aside)
        """
        account = folder.account_id
        cap = max(account.max_attachment_size, 0) * 1024 * 1024
        prepared, failed, skipped = [], [], []
        rules = self.env["crm.mail.filter"]._rules_for(account)
        excluded = account._get_excluded_domains()
        internal = self._internal_addresses()
        forgotten = self.env["crm.mail.erasure"]._forgotten_checker()
        for item in items:
            try:
                entry = self._parse_item(item, cap)
            except MessageParseError as exc:
                failed.append((item, str(exc)))
                continue
            if entry is None:
                skipped.append((item, self.env._("Older than the account's fetch-since date")))
                continue
            parsed = entry["parsed"]
            if forgotten([parsed.from_address, *parsed.to_addresses, *parsed.cc_addresses]):
                skipped.append((item, self.env._("From or to an address that was forgotten")))
                continue
            self._apply_filters(entry, rules, excluded, internal)
            if entry["filter"].skip:
                skipped.append((item, self.env._("Skipped by a filter")))
                continue
            prepared.append(entry)
        prepared = self._filter_known_locations(folder, prepared)
        self._reserve_new_messages(folder, prepared)
        try:
            with self.env.cr.savepoint():
                imported = self._store_batch(folder, prepared)
        except (PsycopgError, ValueError) as exc:
            if is_concurrency_error(exc):
                # Not a bad message: another worker stored one of them first, or the
                # batch met a serialization failure or deadlock. The run retries the
                # whole batch in a new transaction, which then finds the other
                # worker's email and only records this location (see
                # crm.mail.account._sync_one_retrying); one by one would quarantine it.
                raise
            # One bad message must not sink the batch: store them one by one so the
            # culprit alone goes to the quarantine.
            _logger.info("Batch from folder %s failed (%s); storing one by one", folder.id, exc)
            imported = 0
            for entry in prepared:
                try:
                    with self.env.cr.savepoint():
                        imported += self._store_batch(folder, [entry])
                except (PsycopgError, ValueError) as single_exc:
                    if is_concurrency_error(single_exc):
                        raise
                    failed.append((entry["item"], self.env._("Could not store: %s", single_exc)))
        self._record_skipped(folder, skipped)
        self._quarantine(folder, failed)
        return {"imported": imported, "quarantined": len(failed)}

    @api.model
    def _parse_item(self, item, attachment_cap):
        """Parse one fetched message into the values ``_store_batch`` needs.

        :return: dict, or None when the message is deliberately not imported
        :raise MessageParseError: when the message cannot be understood at all
        """
        raw = item["raw"]
        if not raw:
            raise MessageParseError(self.env._("The server returned an empty message."))
        parsed = parse_message(raw, max_attachment_size=attachment_cap)
        received = item.get("internal_date") or parsed.date
        since = item.get("since")
        if since and received and received < since:
            return None
        fingerprint = content_fingerprint(raw)
        return {
            "item": item,
            "parsed": parsed,
            "fingerprint": fingerprint,
            "key": _clean(message_key(parsed.message_id, raw, fingerprint))[:998],
            "received": received,
        }

    @api.model
    def _apply_filters(self, entry, rules, excluded_domains, internal=None):
        """Evaluate the filters and excluded domains for one parsed message.

        Excluded domains are tested on the message's counterparts only: the database's
        own mailboxes and domains (``_internal_addresses``) are never whom a message is
        exchanged with, so listing one's own domain there does not turn every message
        of the mailbox private and unlinked.
        """
        parsed = entry["parsed"]
        message = {
            "from_address": parsed.from_address,
            "recipients": parsed.to_addresses + parsed.cc_addresses,
            "subject": parsed.subject,
            "body": parsed.body_text,
        }
        entry["filter"] = evaluate(rules, message)
        counterparts = self._counterpart_addresses(
            [parsed.from_address, *message["recipients"]],
            internal if internal is not None else self._internal_addresses(),
        )
        entry["excluded"] = domain_excluded(counterparts, excluded_domains)
        return entry

    @api.model
    def _reserve_new_messages(self, folder, prepared):
        """Lock the messages of a batch that are not stored yet (see ``_reserve_messages``)."""
        if not prepared or not folder.account_id._can_commit():
            return
        existing = self._find_existing(prepared, folder)
        new_keys = {
            entry["key"]
            for entry in prepared
            if (entry["key"], entry["fingerprint"]) not in existing
        }
        folder.account_id._reserve_messages(sorted(new_keys))

    @api.model
    def _filter_known_locations(self, folder, prepared):
        """Drop the messages whose location in this folder is already recorded."""
        uids = [entry["item"].get("uid") for entry in prepared if entry["item"].get("uid")]
        uidls = [
            entry["item"].get("pop_uidl") for entry in prepared if entry["item"].get("pop_uidl")
        ]
        if not uids and not uidls:
            return prepared
        self.env["crm.mail.email.location"].flush_model()
        self.env.cr.execute(
            """SELECT uid, pop_uidl FROM crm_mail_email_location
                WHERE folder_id = %s AND (uid = ANY(%s) OR pop_uidl = ANY(%s))""",
            (folder.id, uids, uidls),
        )
        known_uids, known_uidls = set(), set()
        for uid, uidl in self.env.cr.fetchall():
            known_uids.add(uid)
            known_uidls.add(uidl)
        return [
            entry
            for entry in prepared
            if entry["item"].get("uid") not in known_uids
            and entry["item"].get("pop_uidl") not in known_uidls
        ]

    @api.model
    def _store_batch(self, folder, prepared):
        """Create the new emails and the locations of a batch, in bulk."""
        if not prepared:
            return 0
        existing = self._find_existing(prepared, folder)
        to_create, new_keys, pending = [], [], set()
        for entry in prepared:
            ident = (entry["key"], entry["fingerprint"])
            if ident in existing or ident in pending:
                continue
            pending.add(ident)
            new_keys.append(ident)
            to_create.append(self._prepare_email_values(folder, entry))
        self._set_address_users(to_create)
        new_emails = self.create(to_create) if to_create else self.browse()
        existing.update(zip(new_keys, new_emails.ids, strict=True))
        location_vals = [
            self._prepare_location_values(
                folder, entry, existing[(entry["key"], entry["fingerprint"])]
            )
            for entry in prepared
        ]
        locations = self.env["crm.mail.email.location"].create(location_vals)
        for entry in prepared:
            if entry["item"].get("quarantine"):
                entry["item"]["quarantine"].write(
                    {
                        "state": "imported",
                        "email_id": existing[(entry["key"], entry["fingerprint"])],
                    }
                )
        self._post_import(new_emails, locations)
        return len(locations)

    @api.model
    def _find_existing(self, prepared, folder=None):
        """Map (key, fingerprint) to the ids of emails already stored, in one query.

        Two messages are the same email when both their Message-ID and fingerprint
        match. One exception: the copy of mail sent from Odoo that the provider filed in
        the mailbox's Sent folder is the email sent, even when the provider rewrote
        some of it (only that mailbox's Sent folder holds such a copy).
        """
        # Read before the query below: an ORM read in between would run a query of its
        # own on the cursor and replace the rows about to be fetched.
        account_id = folder.account_id.id if folder and folder.is_sent else None
        self.flush_model(["message_id", "fingerprint", "sent_account_id"])
        self.env.cr.execute(
            """SELECT message_id, fingerprint, id, sent_account_id
                 FROM crm_mail_email WHERE message_id = ANY(%s)""",
            ([entry["key"] for entry in prepared],),
        )
        found, sent_here = {}, {}
        for key, fp, email_id, sent_account_id in self.env.cr.fetchall():
            found[(key, fp)] = email_id
            if account_id and sent_account_id == account_id:
                sent_here[key] = email_id
        for entry in prepared:
            ident = (entry["key"], entry["fingerprint"])
            if ident not in found and entry["key"] in sent_here:
                found[ident] = sent_here[entry["key"]]
        return found

    @api.model
    def _prepare_email_values(self, folder, entry):
        """Hook: return the ``create`` values of a new email."""
        parsed = entry["parsed"]
        account = folder.account_id
        received = entry["received"]
        date = parsed.date or received or fields.Datetime.now()
        return {
            "message_id": entry["key"],
            "fingerprint": entry["fingerprint"],
            "subject": _clean(parsed.subject),
            "email_from": _clean(parsed.email_from),
            "from_address": _clean(parsed.from_address),
            "email_to": _clean(parsed.email_to),
            "email_cc": _clean(parsed.email_cc),
            "reply_to": _clean(parsed.reply_to),
            "recipient_addresses": _clean(",".join(parsed.to_addresses + parsed.cc_addresses)),
            "date": date,
            "in_reply_to": _clean(parsed.in_reply_to)[:998] or False,
            "references": _clean(" ".join(parsed.references)) or False,
            "body_html": self._fields["body_html"].presanitize(_clean(parsed.body_html), self),
            "body_text": _clean(parsed.body_text),
            "direction": self._get_direction(folder, parsed),
            "import_mode": self._get_import_mode(account, received or date),
            "is_auto_submitted": parsed.is_auto_submitted,
            "no_auto_reply_reason": auto_reply_blocker(parsed) or False,
            "size": parsed.size,
            "parse_warnings": _clean("\n".join(parsed.warnings)) or False,
            "has_attachments": any(not att.inline for att in parsed.attachments),
            "team_ids": [Command.set(self._get_email_teams(folder, parsed).ids)],
            # Mail to or from an excluded domain stays with its mailbox's owner.
            "is_private": account.private_mailbox or entry.get("excluded", False),
            "no_link": entry["filter"].no_link or entry.get("excluded", False)
            if entry.get("filter")
            else entry.get("excluded", False),
            "no_notify": bool(entry.get("filter") and entry["filter"].no_notify),
            "is_marked_read": bool(entry.get("filter") and entry["filter"].mark_read),
            "inbox_folder_id": entry["filter"].folder_id if entry.get("filter") else False,
            "attachment_ids": [
                Command.create(self._prepare_attachment_values(attachment))
                for attachment in parsed.attachments
                if not attachment.truncated
            ],
        }

    @api.model
    def _get_email_teams(self, folder, parsed):
        """Hook: teams a new email is assigned to (a group mailbox's, for incoming mail)."""
        account = folder.account_id
        if account.account_type != "group" or self._get_direction(folder, parsed) != "incoming":
            return self.env["crm.team"]
        return account.team_ids

    @api.model
    def _set_address_users(self, vals_list):
        """Fill ``address_user_ids`` of new emails, with one query for the batch."""
        addresses_of = []
        for vals in vals_list:
            addresses = {vals.get("from_address")} | set(
                (vals.get("recipient_addresses") or "").split(",")
            )
            addresses_of.append({address for address in addresses if address})
        every = set().union(*addresses_of) if addresses_of else set()
        if not every:
            return
        users_by_address = self._users_by_address(every)
        for vals, addresses in zip(vals_list, addresses_of, strict=True):
            user_ids = sorted(
                {uid for address in addresses for uid in users_by_address.get(address, ())}
            )
            if user_ids:
                vals["address_user_ids"] = [Command.set(user_ids)]

    @api.model
    def _users_by_address(self, addresses):
        """Map normalised addresses to internal users' ids (one query), whichever form
        of an internationalised domain the user's address is written in."""
        form_of = {form: address for address in addresses for form in address_forms(address)}
        # sudo: the sync matches addresses against every user.
        users = (
            self.env["res.users"]
            .sudo()
            .search([("partner_id.email_normalized", "in", list(form_of)), ("share", "=", False)])
        )
        result = defaultdict(set)
        for user in users:
            result[form_of[user.partner_id.email_normalized]].add(user.id)
        return result

    @api.model
    def _address_condition(self, address):
        """SQL condition on ``crm_mail_email``: ``address`` (in any of its forms) is in
        From, To or Cc. Both tests are indexed (btree on the sender, GIN on the
        recipients), so its cost follows the emails of the address, not the archive."""
        forms = list(address_forms(address))
        return SQL(
            "(crm_mail_email.from_address = ANY(%s::text[]) "
            "OR string_to_array(crm_mail_email.recipient_addresses, ',') && %s::text[])",
            forms,
            forms,
        )

    @api.model
    def _refresh_address_users(self, users):
        """Re-match ``users`` against the archive after their address changed."""
        self.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            "DELETE FROM crm_mail_email_address_user_rel WHERE user_id = ANY(%s)", (users.ids,)
        )
        for user in users.filtered(lambda u: not u.share and u.partner_id.email_normalized):
            self.env.cr.execute(
                SQL(
                    """INSERT INTO crm_mail_email_address_user_rel (email_id, user_id)
                       SELECT id, %s FROM crm_mail_email WHERE %s
                       ON CONFLICT DO NOTHING""",
                    user.id,
                    self._address_condition(user.partner_id.email_normalized),
                )
            )
        self.invalidate_model(["address_user_ids"])

    def init(self):
        # Emails of an address: the sender has a btree index (field); the recipients
        # one over their array, so that linking a contact that gains an address, Own
        # access and erasure look the address up instead of scanning the archive.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS crm_mail_email_recipient_addresses_gin
                   ON crm_mail_email USING gin (string_to_array(recipient_addresses, ','))"""
        )

    @api.model
    def _prepare_attachment_values(self, attachment):
        return {
            "name": _clean(attachment.name) or self.env._("attachment"),
            "raw": attachment.content,
            "mimetype": attachment.mimetype,
            "res_model": self._name,
        }

    @api.model
    def _get_direction(self, folder, parsed):
        """Hook: Sent-folder mail and mail from the account's own address is outgoing."""
        own = normalize_address(folder.account_id.email or "")
        if folder.is_sent or (own and parsed.from_address == own):
            return "outgoing"
        return "incoming"

    @api.model
    def _get_import_mode(self, account, received):
        """Hook: mail the server had before the account went live is archive mail."""
        live_since = account.live_since
        if not live_since or not received:
            return "live"
        if received.tzinfo:
            received = received.astimezone(timezone.utc).replace(tzinfo=None)
        return "archive" if received < live_since else "live"

    @api.model
    def _prepare_location_values(self, folder, entry, email_id):
        item = entry["item"]
        return {
            "email_id": email_id,
            "account_id": folder.account_id.id,
            "folder_id": folder.id,
            "uid": item.get("uid") or False,
            "pop_uidl": item.get("pop_uidl") or False,
            "server_flags": " ".join(item.get("flags") or ()) or False,
        }

    @api.model
    def _post_import(self, new_emails, locations):
        """Hook called once per batch after storing: link, notify, create cases.

        :param new_emails: the emails created by this batch
        :param locations: every location recorded by this batch (new and known emails)
        """
        linkable = new_emails.filtered(lambda email: not email.no_link)
        links = self._link_emails(linkable, notify=False)
        links |= self._process_cases(linkable)
        # Once for the whole batch: a follower of several of an email's records (a
        # contact, its lead, its case) hears of it once.
        links._notify_followers()
        return True

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def action_open_link_wizard(self):
        """Button: link these emails to a record picked by the user."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Link to..."),
            "res_model": "crm.mail.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_email_ids": [Command.set(self.ids)]},
        }

    def _sender_name_and_address(self):
        self.ensure_one()
        name, address = parseaddr(self.email_from or "")
        return name.strip() or address, normalize_address(address)

    def action_create_contact(self):
        """Button: create a contact from the sender and link the email to it."""
        self.ensure_one()
        name, address = self._sender_name_and_address()
        if not address:
            raise UserError(self.env._("This email has no sender address."))
        partner = self.env["res.partner"].search([("email_normalized", "=", address)], limit=1)
        if not partner:
            partner = self.env["res.partner"].create({"name": name, "email": address})
        self._link_by_hand(partner)
        return self._open(partner)

    def action_create_company(self):
        """Button: create a company from the sender's domain and link the email to it.

        An existing contact of that address without a company joins the new company.
        """
        self.ensure_one()
        _name, address = self._sender_name_and_address()
        if not address:
            raise UserError(self.env._("This email has no sender address."))
        domain = address.rpartition("@")[2]
        if is_freemail(domain):
            raise UserError(
                self.env._(
                    "%s is a free-mail provider: it does not tell the sender's company. "
                    "Create the company by hand.",
                    domain,
                )
            )
        company = self.env["res.partner"].create(
            {
                "name": domain.rsplit(".", 1)[0].replace("-", " ").title() or domain,
                "is_company": True,
                "website": domain,
            }
        )
        contacts = self.env["res.partner"].search(
            [
                ("email_normalized", "=", address),
                ("parent_id", "=", False),
                ("is_company", "=", False),
            ]
        )
        contacts.write({"parent_id": company.id})
        self._link_by_hand(company)
        return self._open(company)

    # ------------------------------------------------------------------
    # Reply, reply all, forward
    # ------------------------------------------------------------------

    def action_reply(self):
        """Button: answer the sender, quoting this email."""
        return self._open_composer("reply")

    def action_reply_all(self):
        """Button: answer the sender and every other recipient, quoting this email."""
        return self._open_composer("reply_all")

    def action_forward(self):
        """Button: send this email, with its attachments, to someone else."""
        return self._open_composer("forward")

    def _open_composer(self, mode):
        self.ensure_one()
        self.check_access("read")
        if not self._get_reply_account():
            raise UserError(
                self.env._(
                    "You have no mailbox to send from: connect a personal mail account, "
                    "or ask an administrator to share a group mailbox with you."
                )
            )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Write Email"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": self._get_composer_context(mode),
        }

    def _get_composer_context(self, mode):
        """Hook: ``default_*`` values of the compose wizard for a reply or a forward."""
        self.ensure_one()
        account = self._get_reply_account()
        own = {normalize_address(address) for address in self.account_ids.mapped("email")}
        if account:
            own.add(normalize_address(account.email))
        to, cc = [], []
        if mode in ("reply", "reply_all"):
            if self.direction == "outgoing":
                to = _split_addresses(self.email_to)
            else:
                to = _split_addresses(self.reply_to or self.email_from)
            if mode == "reply_all":
                if self.direction == "incoming":
                    to += _split_addresses(self.email_to)
                cc = _split_addresses(self.email_cc)
            to = _without(to, own) or to[:1]
            cc = _without(cc, own | {normalize_address(a) for a in to})
        return {
            "default_composition_mode": "comment",
            "default_model": self._name,
            "default_res_ids": self.ids,
            "default_crm_mail_account_id": account.id,
            "default_crm_mail_parent_email_id": self.id,
            "default_crm_mail_reply_mode": mode,
            "default_subject": self._reply_subject(mode),
            "default_body": self._quoted_body(mode),
            "default_crm_mail_email_to": ", ".join(to) or False,
            "default_crm_mail_email_cc": ", ".join(cc) or False,
            "default_crm_mail_record_attachment_ids": (
                self.attachment_ids.ids if mode == "forward" else []
            ),
        }

    def _get_reply_account(self):
        """The mailbox to answer from: one this email arrived in, if the user may send
        from it, else the user's own."""
        sendable = self.env["crm.mail.account"]._get_sendable_accounts()
        for account in self.account_ids:
            if account in sendable:
                return account
        personal = sendable.filtered(
            lambda account: account.account_type == "personal" and account.user_id == self.env.user
        )
        return (personal or sendable)[:1]

    def _reply_subject(self, mode):
        subject = (self.subject or "").strip()
        if mode == "forward":
            prefix = self.env._("Fwd:")
            known = ("fwd:", "fw:", prefix.lower())
        else:
            prefix = self.env._("Re:")
            known = ("re:", prefix.lower())
        if subject.lower().startswith(known):
            return subject
        return f"{prefix} {subject}".strip()

    def _quoted_body(self, mode):
        """The original, quoted below an empty first line for the answer."""
        date = fields.Datetime.to_string(self.date) if self.date else ""
        original = self.body_html or Markup("<pre>%s</pre>") % (self.body_text or "")
        if mode == "forward":
            header = Markup(
                "<p>---------- %s ----------<br/>%s: %s<br/>%s: %s<br/>%s: %s<br/>%s: %s</p>"
            ) % (
                self.env._("Forwarded message"),
                self.env._("From"),
                self.email_from or "",
                self.env._("Date"),
                date,
                self.env._("Subject"),
                self.subject or "",
                self.env._("To"),
                self.email_to or "",
            )
            return Markup("<p><br/></p>%s%s") % (header, original)
        intro = self.env._("On %(date)s, %(sender)s wrote:", date=date, sender=self.email_from)
        return Markup(
            '<p><br/></p><div data-o-mail-quote="1"><p>%s</p>'
            '<blockquote data-o-mail-quote="1">%s</blockquote></div>'
        ) % (intro, original)

    # ------------------------------------------------------------------
    # Sent mail
    # ------------------------------------------------------------------

    @api.model
    def _archive_sent_message(self, account, raw, values):
        """Store a message sent from ``account`` as an outgoing email.

        It is parsed like synced mail, so that its Message-ID and fingerprint are the
        ones the Sent folder's copy will have: the sync then finds it stored already.

        :param bytes raw: the message as sent (with its Bcc header)
        :param dict values: extra values (sender, private flag...)
        """
        cap = max(account.max_attachment_size, 0) * 1024 * 1024
        entry = self._parse_item({"raw": raw}, cap)
        self._apply_filters(entry, [], account._get_excluded_domains())
        existing = self._find_existing([entry], account._get_sent_folder())
        if existing:
            return self.browse(next(iter(existing.values())))
        folder = account._get_sent_folder() or self.env["crm.mail.folder"].new(
            {"account_id": account.id, "is_sent": True}
        )
        vals = self._prepare_email_values(folder, entry)
        vals.update(values, sent_account_id=account.id, direction="outgoing", import_mode="live")
        if values.get("is_private"):
            vals["is_private"] = True
        self._set_address_users([vals])
        return self.create(vals)

    def _link_by_hand(self, record):
        self.check_access("read")
        record.check_access("read")
        self._create_links(self, {self.id: {(record._name, record.id): "manual"}}, notify=False)

    def _open(self, record):
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "target": "current",
        }

    # ------------------------------------------------------------------
    # Linking
    # ------------------------------------------------------------------

    @api.model
    def _get_linkable_models(self):
        """Hook: models an email can be linked to (and shown in the chatter of)."""
        return ["res.partner", "crm.lead", "crm.mail.case"]

    @api.model
    def _selection_linkable_models(self):
        """(model, name) pairs of the linkable models, for Reference fields."""
        models = self._get_linkable_models()
        return [(model, self.env["ir.model"]._get(model).name) for model in models]

    @api.model
    def _link_emails(self, emails, notify=True, extra_targets=None):
        """Link ``emails`` to the records they concern, in bulk, and post them.

        :param dict extra_targets: email id -> {(model, record id): reason}, records
            known to the caller (e.g. the one an email was written from), added to
            those found; a record found already keeps its reason
        """
        if not emails:
            return self.env["crm.mail.email.link"]
        targets = self._find_link_targets(emails)
        for email_id, extra in (extra_targets or {}).items():
            for target, reason in extra.items():
                targets[email_id].setdefault(target, reason)
        return self._create_links(emails, targets, notify=notify)

    @api.model
    def _find_link_targets(self, emails):
        """Return, per email id, the records it concerns and why.

        Inheriting modules add targets by extending the result.

        :return: dict ``{email_id: {(res_model, res_id): reason}}``, first reason wins
        """
        targets = defaultdict(dict)
        self._find_thread_targets(emails, targets)
        self._find_reference_targets(emails, targets)
        self._find_address_targets(emails, targets)
        return targets

    def _thread_references(self):
        """The Message-IDs this email answers: In-Reply-To, then References, newest first."""
        self.ensure_one()
        refs = [self.in_reply_to, *reversed((self.references or "").split())]
        return list(dict.fromkeys(ref for ref in refs if ref))

    def _addresses(self):
        """The normalised addresses of From, To and Cc of this email, in every form."""
        self.ensure_one()
        addresses = [self.from_address, *(self.recipient_addresses or "").split(",")]
        return {form for address in addresses if address for form in address_forms(address)}

    @api.model
    def _find_thread_targets(self, emails, targets):
        """Replies follow the records of the messages they answer, when they may.

        A reference joins a record's conversation when it is the token Message-ID of
        mail this database sent about that record (see ``_token_message_id_for``), or
        when it names a message that record received or sent and the reply's sender
        takes part in the record's conversation (``_filter_participants``). Knowing a
        Message-ID is not enough: any other reference is written down on the email
        (``routing_note``), and in a case mailbox the email opens a case of its own.
        """
        refs_by_email = {email.id: email._thread_references() for email in emails}
        all_refs = sorted(set().union(*refs_by_email.values())) if refs_by_email else []
        if not all_refs:
            return
        tokens = self._read_token_message_ids(all_refs)
        by_ref = self._records_of_message_ids([ref for ref in all_refs if ref not in tokens])
        candidates = defaultdict(set)
        for email in emails:
            for ref in refs_by_email[email.id]:
                if ref in tokens:
                    targets[email.id].setdefault(tokens[ref], "thread")
                else:
                    candidates[email.id].update(by_ref.get(ref, ()))
        if not candidates:
            return
        sender = {email.id: email.from_address for email in emails}
        allowed = self._filter_participants(
            {
                (target, sender[email_id])
                for email_id, found in candidates.items()
                for target in found
            }
        )
        refused = defaultdict(list)
        for email_id, found in candidates.items():
            for target in sorted(found):
                if (target, sender[email_id]) in allowed:
                    targets[email_id].setdefault(target, "thread")
                elif target not in targets[email_id]:
                    refused[email_id].append(target)
        self._note_refused_threads(emails, refused)

    @api.model
    def _records_of_message_ids(self, refs):
        """Map Message-IDs to the linkable records whose conversation holds them: an
        email linked to the record, or a message Odoo posted on it (one query each)."""
        by_ref = defaultdict(set)
        if not refs:
            return by_ref
        self.env["crm.mail.email.link"].flush_model()
        self.flush_model(["message_id"])
        self.env.cr.execute(
            """SELECT e.message_id, l.res_model, l.res_id
                 FROM crm_mail_email_link l JOIN crm_mail_email e ON e.id = l.email_id
                WHERE e.message_id = ANY(%s)""",
            (refs,),
        )
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT message_id, model, res_id FROM mail_message
                WHERE message_id = ANY(%s) AND model = ANY(%s) AND res_id IS NOT NULL""",
            (refs, self._get_linkable_models()),
        )
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        return by_ref

    @api.model
    def _note_refused_threads(self, emails, refused):
        """Write on each email the conversations it refers to but was not let into."""
        if not refused:
            return
        targets = {target for found in refused.values() for target in found}
        names = self._get_record_names(targets)
        for target in targets:
            names.setdefault(target, "%s #%s" % target)
        for email in emails.filtered(lambda email: email.id in refused):
            notes = [
                self.env._(
                    "Refers to the conversation of %(record)s, but %(sender)s takes no part "
                    "in it: not joined.",
                    record=names[target],
                    sender=email.from_address or self.env._("an unknown sender"),
                )
                for target in refused[email.id]
            ]
            email.routing_note = "\n".join(filter(None, [email.routing_note, *notes]))

    @api.model
    def _filter_participants(self, pairs):
        """The ``((model, res_id), address)`` pairs whose address takes part in the
        record's conversation: it sent or received an email linked to the record, or
        it is the record's own address, its customer's or a follower's
        (``_record_addresses``). One query for the emails, one per model for the rest.
        """
        pairs = {(target, address) for target, address in pairs if address}
        if not pairs:
            return set()
        self.env["crm.mail.email.link"].flush_model()
        self.flush_model(["from_address", "recipient_addresses"])
        rows = SQL(", ").join(
            SQL("(%s, %s, %s, %s::text[])", model, res_id, address, list(address_forms(address)))
            for (model, res_id), address in pairs
        )
        self.env.cr.execute(
            SQL(
                """SELECT v.model, v.res_id, v.address
                     FROM (VALUES %s) AS v(model, res_id, address, forms)
                    WHERE EXISTS (
                        SELECT 1 FROM crm_mail_email_link l
                          JOIN crm_mail_email e ON e.id = l.email_id
                         WHERE l.res_model = v.model AND l.res_id = v.res_id
                           AND (e.from_address = ANY(v.forms)
                                OR string_to_array(e.recipient_addresses, ',') && v.forms))""",
                rows,
            )
        )
        allowed = {((model, res_id), address) for model, res_id, address in self.env.cr.fetchall()}
        remaining = pairs - allowed
        ids_by_model = defaultdict(set)
        for (model, res_id), _address in remaining:
            ids_by_model[model].add(res_id)
        known = {}
        for model, ids in ids_by_model.items():
            known.update(self._record_addresses(model, ids))
        for target, address in remaining:
            if set(address_forms(address)) & known.get(target, set()):
                allowed.add((target, address))
        return allowed

    @api.model
    def _record_addresses(self, model, ids):
        """Hook: ``{(model, id): addresses}``, the addresses that take part in a record's
        conversation without an email of it: the record's own (its primary email
        field), its customers' and its followers'."""
        # sudo: participants are decided by the sync, whoever runs it.
        records = self.env[model].sudo().browse(ids).exists()
        primary = records._mail_get_primary_email_field()
        customers = records._mail_get_partners()
        result = {}
        for record in records:
            partners = customers.get(record.id, self.env["res.partner"])
            if "message_partner_ids" in record._fields:
                partners |= record.message_partner_ids
            addresses = {normalize_address(record[primary] or "")} if primary else set()
            addresses.update(partners.mapped("email_normalized"))
            result[(model, record.id)] = {
                form for address in addresses if address for form in address_forms(address)
            }
        return result

    @api.model
    def _find_reference_targets(self, emails, targets):
        """Cases named in the subject ([CASE-0042]), for mail from their participants.

        Knowing a case number is not enough: mail from anyone else starts a new case,
        so nobody can inject mail into somebody else's case.
        """
        refs = {email.id: CASE_REFERENCE.findall(email.subject or "") for email in emails}
        names = {name for found in refs.values() for name in found}
        if not names:
            return targets
        cases = self.env["crm.mail.case"].sudo().search([("name", "in", list(names))])
        by_name = {case.name: ("crm.mail.case", case.id) for case in cases}
        wanted = {
            (by_name[name], email.from_address)
            for email in emails
            for name in refs[email.id]
            if name in by_name
        }
        allowed = self._filter_participants(wanted)
        for email in emails:
            for name in refs[email.id]:
                target = by_name.get(name)
                if target and (target, email.from_address) in allowed:
                    targets[email.id].setdefault(target, "reference")
        return targets

    # ------------------------------------------------------------------
    # Tokens of the mail this database sends
    # ------------------------------------------------------------------

    @api.model
    def _thread_token_key(self):
        # A key of its own, derived from the database secret, for these tokens only.
        return tools.hmac(self.env(su=True), "crm_mail_sync.thread_token", "").encode()

    @api.model
    def _token_message_id_for(self, values, domain=None):
        """The Message-ID of new mail about a linkable record (a reply from a case, a
        note mailed to followers, an auto-reply, an email written from the record),
        carrying the token that lets answers to it join the record; None otherwise.

        :param dict values: ``model`` and ``res_id`` of the record (mail.message values)
        :param str domain: the right-hand side (default: the company's mail domain)
        """
        model, res_id = values.get("model"), values.get("res_id")
        if (
            not model
            or not res_id
            or values.get("crm_mail_email_id")
            or model not in self._get_linkable_models()
        ):
            return None
        return make_message_id(
            self._thread_token_key(), model, res_id, domain or self._token_domain()
        )

    @api.model
    def _token_domain(self):
        """The right-hand side of token Message-IDs: the company's mail domain."""
        # sudo: the alias domain is a system setting.
        alias_domain = self.env.company.sudo().alias_domain_id.name
        return alias_domain or socket.gethostname()

    @api.model
    def _read_token_message_ids(self, refs):
        """Map the references that are valid tokens to their (existing) record."""
        key = self._thread_token_key()
        linkable = set(self._get_linkable_models())
        found = {}
        for ref in refs:
            target = read_message_id(key, ref)
            if target and target[0] in linkable:
                found[ref] = target
        ids_by_model = defaultdict(set)
        for model, res_id in found.values():
            ids_by_model[model].add(res_id)
        existing = {
            (model, record_id)
            for model, ids in ids_by_model.items()
            for record_id in self.env[model].sudo().browse(ids).exists().ids
        }
        return {ref: target for ref, target in found.items() if target in existing}

    # ------------------------------------------------------------------
    # Cases
    # ------------------------------------------------------------------

    def _case_account(self):
        """The group mailbox of this email that turns mail into cases, if any."""
        self.ensure_one()
        return self.account_ids.filtered(
            lambda account: account.account_type == "group" and account.create_cases
        )[:1]

    def _should_create_case(self):
        """Hook: whether this email, in no case yet, starts a new one."""
        self.ensure_one()
        account = self._case_account()
        return bool(
            account
            and self.direction == "incoming"
            and not self.is_auto_submitted
            and (self.import_mode == "live" or account.archive_create_cases)
        )

    def _prepare_case_values(self, author=None):
        """Hook: the ``create`` values of the case this email opens.

        :param author: the sender's partner, if known (found for the whole batch)
        """
        self.ensure_one()
        account = self._case_account()
        return {
            "subject": self.subject or self.env._("(no subject)"),
            "partner_id": author.id if author else False,
            "account_id": account.id,
            "team_id": (account.case_team_id or account.team_ids[:1]).id,
        }

    def _batch_parent(self, earlier):
        """The email of ``earlier`` (Message-ID -> email, same batch) this one answers,
        when its sender took part in it."""
        self.ensure_one()
        sender = set(address_forms(self.from_address)) if self.from_address else set()
        for ref in self._thread_references():
            parent = earlier.get(ref)
            if parent and sender & parent._addresses():
                return parent
        return None

    @api.model
    def _process_cases(self, emails):
        """Attach emails to their case, or open a case for the first of a thread.

        The batch is taken in thread order, oldest first: an email answering another
        of the batch, from one of its participants, goes where that one goes, so a
        first email and its reply fetched together make one case.

        :return: the links to cases that are news for the cases' followers (replies
            joining an existing case), for the caller to notify; a new case's first
            emails are its history and notify nobody
        """
        Link = self.env["crm.mail.email.link"].sudo()
        Case = self.env["crm.mail.case"].sudo()
        if not emails:
            return Link
        linked = {}
        for link in Link.search(
            [("email_id", "in", emails.ids), ("res_model", "=", "crm.mail.case")], order="id"
        ):
            linked.setdefault(link.email_id.id, Case.browse(link.res_id))
        groups = self._thread_groups(emails, linked)
        # A conversation of the batch with no case yet opens one at its first email
        # that may open a case; the ones before it (our own mail, robots) stay out.
        starts = {}
        for root, group in groups.items():
            if root not in linked:
                start = next((email for email in group if email._should_create_case()), None)
                if start:
                    starts[root] = start
        authors = self._get_author_partners(list(starts.values()))
        new_cases = Case.create(
            [
                email._prepare_case_values(authors.get(email.from_address))
                for email in starts.values()
            ]
        )
        case_of = dict(zip(starts, new_cases, strict=True))
        case_of.update({root: linked[root] for root in groups if root in linked})
        quiet, news = defaultdict(dict), defaultdict(dict)
        for root, group in groups.items():
            case = case_of.get(root)
            if not case:
                continue
            if root in starts:
                group = group[list(group).index(starts[root]) :]
            group.write({"case_id": case.id})
            targets = quiet if case in new_cases else news
            for email in group.filtered(lambda email, case=case: linked.get(email.id) != case):
                targets[email.id][("crm.mail.case", case.id)] = "thread"
            if case not in new_cases:
                self._reopen_case(case, group)
        for case in new_cases:
            case._assign_case_user()
            if case.partner_id:
                case.message_subscribe(partner_ids=case.partner_id.ids)
        self._create_links(emails.filtered(lambda e: e.id in quiet), quiet, notify=False)
        links = self._create_links(emails.filtered(lambda e: e.id in news), news, notify=False)
        for email, case in zip(starts.values(), new_cases, strict=True):
            if email._should_auto_reply():
                case._send_auto_reply(email)
        return links

    @api.model
    def _thread_groups(self, emails, linked):
        """Group the batch by conversation, in thread order (oldest first).

        :param dict linked: email id -> the case it is linked to already; such an
            email heads a group of its own
        :return: dict ``{id of the group's first email: emails of the group}``
        """
        ordered = emails.sorted(lambda email: (email.date or fields.Datetime.now(), email.id))
        root_of, earlier = {}, {}
        groups = defaultdict(lambda: self.browse())
        for email in ordered:
            parent = None if email.id in linked else email._batch_parent(earlier)
            root_of[email.id] = root_of[parent.id] if parent else email.id
            earlier.setdefault(email.message_id, email)
            groups[root_of[email.id]] |= email
        return groups

    @api.model
    def _reopen_case(self, case, emails):
        """Hook: a customer's live mail on a closed case reopens it, when its mailbox
        says so; mail the case sent itself (a synced Sent copy) never does."""
        incoming = emails.filtered(
            lambda email: email.direction == "incoming" and email.import_mode == "live"
        )
        if not incoming:
            return
        account = incoming[:1]._case_account() or case.account_id
        if account.reopen_closed_cases:
            case._reopen()

    @api.model
    def _fetched_addresses(self):
        """Every address this database fetches: never auto-replied to."""
        accounts = self.env["crm.mail.account"].sudo().with_context(active_test=False)
        return {normalize_address(address) for address in accounts.search([]).mapped("email")}

    def _should_auto_reply(self):
        """Hook: whether this email, which just opened a case, gets an auto-reply.

        Never for archive mail, for mail RFC 3834 says not to answer, for mail from an
        address this database fetches itself, or past the per-sender rate limit.
        """
        self.ensure_one()
        account = self._case_account()
        if not account.auto_reply_template_id or self.import_mode != "live":
            return False
        if self.no_auto_reply_reason or not self.from_address:
            return False
        if self.from_address in self._fetched_addresses():
            return False
        since = fields.Datetime.now() - timedelta(hours=account.auto_reply_period_hours or 24)
        sent = (
            self.env["crm.mail.auto.reply"]
            .sudo()
            .search_count(
                [
                    ("account_id", "=", account.id),
                    ("address", "=", self.from_address),
                    ("create_date", ">=", since),
                ]
            )
        )
        return sent < max(account.auto_reply_limit, 0)

    # ------------------------------------------------------------------
    # Linking by address
    # ------------------------------------------------------------------

    @api.model
    def _internal_addresses(self):
        """``(addresses, domains)`` that are the database's own: the mailboxes it
        fetches, and the domains of its companies, alias domains and mailboxes (free
        mail providers aside). Never a counterpart of an email."""
        # sudo: settings and every account, whoever runs the sync.
        accounts = self.env["crm.mail.account"].sudo().with_context(active_test=False).search([])
        addresses = {normalize_address(address) for address in accounts.mapped("email")}
        domains = set(self.env["mail.alias.domain"].sudo().search([]).mapped("name"))
        domains.update(
            normalize_address(email).rpartition("@")[2]
            for email in self.env["res.company"].sudo().search([]).mapped("email")
            if email
        )
        domains.update(
            address.rpartition("@")[2]
            for address in addresses
            if address and not is_freemail(address.rpartition("@")[2])
        )
        domains.discard("")
        return (
            {form for address in addresses if address for form in address_forms(address)},
            {name.lower() for name in domains if name},
        )

    @api.model
    def _counterpart_addresses(self, addresses, internal):
        """The addresses of an email that are not the database's own (see
        ``_internal_addresses``): whom the email is exchanged with."""
        own, domains = internal
        return [
            address
            for address in addresses
            if address
            and not set(address_forms(address)) & own
            and not domain_of(address) & domains
        ]

    @api.model
    def _external_addresses(self, email):
        """The addresses of From/To/Cc that are not the email's own mailboxes."""
        own = {normalize_address(address) for address in email.account_ids.mapped("email")}
        addresses = [email.from_address] + (email.recipient_addresses or "").split(",")
        return {address for address in addresses if address and address not in own}

    @api.model
    def _find_address_targets(self, emails, targets):
        """Contacts (and their company) and open leads by exact normalised address."""
        addresses_by_email = {email.id: self._external_addresses(email) for email in emails}
        all_addresses = set().union(*addresses_by_email.values()) if addresses_by_email else set()
        if not all_addresses:
            return
        partners_by_address = self._match_partners(all_addresses)
        partners = self.env["res.partner"].union(*partners_by_address.values())
        leads = self._match_leads(all_addresses, partners)
        leads_by_address = defaultdict(list)
        leads_by_partner = defaultdict(list)
        form_of = {form: address for address in all_addresses for form in address_forms(address)}
        for lead in leads:
            if lead.email_normalized in form_of:
                leads_by_address[form_of[lead.email_normalized]].append(lead)
            if lead.partner_id:
                leads_by_partner[lead.partner_id.id].append(lead)
        for email_id, addresses in addresses_by_email.items():
            found = targets[email_id]
            for address in sorted(addresses):
                for partner in partners_by_address.get(address, ()):
                    found.setdefault(("res.partner", partner.id), "address")
                    company = partner.commercial_partner_id
                    if company != partner:
                        found.setdefault(("res.partner", company.id), "address")
                    for lead in leads_by_partner.get(partner.id, ()):
                        found.setdefault(("crm.lead", lead.id), "address")
                for lead in leads_by_address.get(address, ()):
                    found.setdefault(("crm.lead", lead.id), "address")

    @api.model
    def _match_partners(self, addresses):
        """Hook: ``{address: partners}`` for the partners whose address is one of
        ``addresses`` (in either form of an internationalised domain).

        Internal users' partners are left out: colleagues' addresses say nothing about
        which customer an email concerns.
        """
        form_of = {form: address for address in addresses for form in address_forms(address)}
        partners = self.env["res.partner"].search([("email_normalized", "in", list(form_of))])
        internal = self.env["res.users"].search(
            [("partner_id", "in", partners.ids), ("share", "=", False)]
        )
        result = defaultdict(lambda: self.env["res.partner"])
        for partner in partners - internal.partner_id:
            result[form_of[partner.email_normalized]] |= partner
        return result

    @api.model
    def _match_leads(self, addresses, partners):
        """Hook: open leads and opportunities of these addresses or partners."""
        forms = [form for address in addresses for form in address_forms(address)]
        return self.env["crm.lead"].search(
            [
                ("stage_id.is_won", "=", False),
                "|",
                ("email_normalized", "in", forms),
                ("partner_id", "in", partners.ids),
            ]
        )

    # ------------------------------------------------------------------
    # Chatter entries
    # ------------------------------------------------------------------

    @api.model
    def _create_links(self, emails, targets, notify=True):
        """Create the links (skipping existing ones) and their chatter entries.

        Each link gets one entry in its record's chatter, which only points at the
        email (see mail.message). Mail that Odoo itself sent on the record (a reply
        from a case) has its message there already: the synced copy of it (from the
        Sent folder) takes that message as its entry instead of adding a second one.
        """
        Link = self.env["crm.mail.email.link"]
        existing = set()
        if emails:
            for link in Link.sudo().search([("email_id", "in", emails.ids)]):
                existing.add((link.email_id.id, link.res_model, link.res_id))
        pending = []
        for email in emails:
            for (model, res_id), reason in targets.get(email.id, {}).items():
                if (email.id, model, res_id) not in existing:
                    pending.append((email, model, res_id, reason))
                    existing.add((email.id, model, res_id))
        if not pending:
            return Link
        sent_by_odoo = self._odoo_messages_of(pending)
        to_post = [entry for entry in pending if entry[:3] not in sent_by_odoo]
        names = self._get_record_names({(model, res_id) for _e, model, res_id, _r in to_post})
        # sudo: the sync writes every record's chatter; the entries hold nothing but a
        # pointer to the email, whose own rules decide what each reader sees.
        messages = (
            self.env["mail.message"]
            .sudo()
            .create(
                [
                    email._prepare_chatter_values(model, res_id, names.get((model, res_id)))
                    for email, model, res_id, _reason in to_post
                ]
            )
        )
        message_of = dict(sent_by_odoo)
        message_of.update(
            {entry[:3]: message.id for entry, message in zip(to_post, messages, strict=True)}
        )
        links = Link.sudo().create(
            [
                {
                    "email_id": email.id,
                    "res_model": model,
                    "res_id": res_id,
                    "reason": reason,
                    "mail_message_id": message_of.get((email, model, res_id), False),
                }
                for email, model, res_id, reason in pending
            ]
        )
        if notify:
            links._notify_followers()
        return links

    @api.model
    def _odoo_messages_of(self, pending):
        """Map ``(email, model, res_id)`` of ``pending`` to the message Odoo posted on
        that record with the email's Message-ID, when Odoo sent the email itself."""
        message_ids = list({email.message_id for email, *_rest in pending})
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT message_id, model, res_id, MIN(id) FROM mail_message
                WHERE message_id = ANY(%s) AND crm_mail_email_id IS NULL
                  AND model IS NOT NULL AND res_id IS NOT NULL
             GROUP BY message_id, model, res_id""",
            (message_ids,),
        )
        posted = {(row[0], row[1], row[2]): row[3] for row in self.env.cr.fetchall()}
        return {
            (email, model, res_id): posted[(email.message_id, model, res_id)]
            for email, model, res_id, _reason in pending
            if (email.message_id, model, res_id) in posted
        }

    def _prepare_chatter_values(self, res_model, res_id, record_name=None):
        """Hook: the mail.message values of this email's entry in a record's chatter.

        No subject, body, sender, recipients or files: the entry points at the email
        (``crm_mail_email_id``) and shows what the email's rules let each reader see.
        Its date is the email's; ``reply_to`` and ``record_name`` are given so that
        mail.message does not compute them one message at a time.
        """
        self.ensure_one()
        return {
            "model": res_model,
            "res_id": res_id,
            "message_type": "email",
            # An internal note: the synced email is history for the team; customers
            # following the record (portal) do not receive it again.
            "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
            "body": "",
            "author_id": False,
            "email_from": False,
            "reply_to": False,
            "record_name": record_name or False,
            "date": self.date,
            "crm_mail_email_id": self.id,
        }

    def _chatter_content(self, readable, author=None):
        """What a chatter entry of this email shows the current user (see mail.message).

        :param bool readable: the email's access verdict for that user
        :param author: the sender's partner, if any
        :return: dict of ``body``, ``subject``, ``email_from``, ``author_id`` and
            ``attachment_ids``, as the entry's fields would hold them
        """
        self.ensure_one()
        if not readable:
            return {
                "body": chatter_placeholder(self.env, self.direction),
                "subject": False,
                "email_from": False,
                "author_id": self.env["res.partner"],
                "attachment_ids": self.env["ir.attachment"],
            }
        # The reader's own view of the body: remote images stay blocked until shown.
        body = self.body_display or (
            Markup("<pre>%s</pre>") % self.body_text if self.body_text else Markup("")
        )
        return {
            "body": body or Markup("<p><em>%s</em></p>") % self.env._("(no text)"),
            "subject": self.subject or False,
            "email_from": self.email_from or False,
            "author_id": author or self.env["res.partner"],
            "attachment_ids": self.attachment_ids,
        }

    @api.model
    def _chatter_authors(self, emails):
        """Map email ids to the partner shown as their author (one query)."""
        emails = self.browse([email.id for email in emails]).sudo()
        by_address = self._get_author_partners(emails)
        return {
            email.id: email.sent_by_user_id.partner_id or by_address.get(email.from_address)
            for email in emails
        }

    @contextmanager
    def _chatter_content_cached(self, message):
        """Let Odoo's notification layout render ``message`` with this email's content.

        The content is put in the cache of the entry, never written: the entry keeps
        holding nothing (see mail.message); it is dropped from the cache on leaving.
        """
        self.ensure_one()
        content = self._chatter_content(True, self._chatter_authors(self).get(self.id))
        cache = self.env.cache
        for fname in ("body", "subject", "email_from", "author_id"):
            field = message._fields[fname]
            cache.update(message, field, [field.convert_to_cache(content[fname], message)])
        try:
            yield
        finally:
            message.invalidate_recordset(["body", "subject", "email_from", "author_id"])

    def _notify_by_email(self, record, message, recipients_data):
        """Mail this email to the followers of ``record`` who get notifications by email.

        Odoo's layout is rendered for the entry ``message`` (its content cached, see
        ``_chatter_content_cached``); each notification is a mail of its own, deleted
        once sent, so that nothing of the email is ever written onto the entry.
        """
        self.ensure_one()
        partners_data = [data for data in recipients_data if data["notif"] == "email"]
        if not partners_data:
            return self.env["mail.mail"]
        mail_values, notifications = [], []
        for _lang, render_values, group in record._notify_get_classified_recipients_iterator(
            message, partners_data
        ):
            recipients = group.pop("recipients")
            if not recipients:
                continue
            body = record._notify_by_email_render_layout(
                message, group, render_values=render_values
            )
            mail_values.append(
                {
                    "subject": self.subject or record.display_name,
                    "email_from": self.email_from or False,
                    "body_html": body,
                    "recipient_ids": [Command.link(pid) for pid in recipients],
                    "references": self.message_id,
                    "auto_delete": True,
                }
            )
            notifications.append(recipients)
        # sudo: the sync mails the followers it selected (all readers of the email).
        mails = self.env["mail.mail"].sudo().create(mail_values)
        self.env["mail.notification"].sudo().create(
            [
                {
                    "mail_message_id": message.id,
                    "mail_mail_id": mail.id,
                    "res_partner_id": partner_id,
                    "notification_type": "email",
                    "notification_status": "ready",
                    "is_read": True,
                }
                for mail, recipients in zip(mails, notifications, strict=True)
                for partner_id in recipients
            ]
        )
        return mails

    @api.model
    def _search_chatter_term(self, term):
        """The emails the current user may read whose subject, sender or text holds
        ``term`` (a Query, for the chatter's search)."""
        return self._search(
            [
                "|",
                "|",
                ("subject", "ilike", term),
                ("email_from", "ilike", term),
                ("body_text", "ilike", term),
            ]
        )

    @api.model
    def _get_record_names(self, targets):
        """Map (model, id) to the record's display name, one query per model."""
        ids_by_model = defaultdict(list)
        for model, res_id in targets:
            ids_by_model[model].append(res_id)
        names = {}
        for model, ids in ids_by_model.items():
            # sudo: names for the chatter entries, written by the sync.
            records = self.env[model].sudo().browse(ids)
            for record in records:
                names[(model, record.id)] = record.display_name
        return names

    @api.model
    def _get_author_partners(self, emails):
        """Map sender addresses to a partner (either form of the address), in one query."""
        addresses = {email.from_address for email in emails if email.from_address}
        if not addresses:
            return {}
        form_of = {form: address for address in addresses for form in address_forms(address)}
        partners = self.env["res.partner"].search(
            [("email_normalized", "in", list(form_of))], order="id"
        )
        result = {}
        for partner in partners:
            result.setdefault(form_of[partner.email_normalized], partner)
        return result

    @api.model
    def _record_skipped(self, folder, skipped):
        """Remember deliberately skipped messages so they are not fetched again.

        :param list skipped: ``(item, reason)`` pairs
        """
        vals = [
            {
                "account_id": folder.account_id.id,
                "folder_id": folder.id,
                "uid": item.get("uid") or False,
                "pop_uidl": item.get("pop_uidl") or False,
                "skip_reason": reason,
            }
            for item, reason in skipped
            if item.get("pop_uidl")  # IMAP remembers them through last_uid
        ]
        if vals:
            self.env["crm.mail.email.location"].create(vals)

    @api.model
    def _quarantine(self, folder, failures):
        """Keep messages that could not be imported, raw, for an administrator."""
        if not failures:
            return
        Quarantine = self.env["crm.mail.quarantine"]
        vals, retried = [], Quarantine
        for item, error in failures:
            _logger.warning(
                "Mail account %s, folder %s: message %s quarantined: %s",
                folder.account_id.id,
                folder.id,
                item.get("uid") or item.get("pop_uidl"),
                error,
            )
            if item.get("quarantine"):
                item["quarantine"].error = error
                retried |= item["quarantine"]
                continue
            raw = item.get("raw") or b""
            vals.append(
                {
                    "account_id": folder.account_id.id,
                    "folder_id": folder.id,
                    "uid": item.get("uid") or False,
                    "pop_uidl": item.get("pop_uidl") or False,
                    "error": error,
                    "raw_message": base64.b64encode(raw),
                    "raw_size": len(raw),
                }
            )
        # sudo: the quarantine is an administrators' model; any user syncing their
        # own mailbox must still be able to put a message aside.
        Quarantine.sudo().create(vals)
