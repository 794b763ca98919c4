# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
import logging
from collections import defaultdict
from datetime import timedelta, timezone
from email.utils import formataddr, getaddresses, parseaddr

from markupsafe import Markup
from psycopg2 import Error as PsycopgError

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..fields import SanitizeOnceHtml
from ..lib.concurrency import is_concurrency_error
from ..lib.filters import domain_excluded, evaluate
from ..lib.fingerprint import content_fingerprint, message_key
from ..lib.freemail import is_freemail
from ..lib.loops import auto_reply_blocker
from ..lib.mime_parser import MessageParseError, normalize_address, parse_message
from ..lib.remote_images import block_remote_images
from .crm_mail_case import CASE_REFERENCE

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
    # Private emails
    # ------------------------------------------------------------------

    # What a private email hides from everyone but its mailbox's owner and admins.
    PRIVATE_FIELDS = (
        "subject",
        "body_html",
        "body_text",
        "email_to",
        "email_cc",
        "recipient_addresses",
        "attachment_ids",
        "parse_warnings",
        "snippet",
        "body_display",
    )
    # Per-user state any reader may set on the emails they can read.
    USER_STATE_FIELDS = {"is_read", "is_starred"}

    def _hidden_private(self):
        """The private emails of ``self`` whose content the current user may not see."""
        private = self.filtered("is_private")
        if (
            not private
            or self.env.su
            or self.env.user.has_group("crm_mail_sync.group_crm_mail_manager")
        ):
            return self.browse()
        uid = self.env.uid
        return private.filtered(
            lambda email: (
                email.sudo().sent_by_user_id.id != uid
                and not any(
                    account.account_type == "personal" and account.user_id.id == uid
                    for account in email.sudo().account_ids
                )
            )
        )

    def _private_placeholder(self, fname):
        if fname == "subject":
            return self.env._("(private email)")
        if fname in ("body_html", "body_display"):
            return Markup("<p><em>%s</em></p>") % self.env._(
                "This email is private to the owner of its mailbox."
            )
        if fname == "attachment_ids":
            return []
        return False

    def _read_format(self, fnames, load="_classic_read"):
        result = super()._read_format(fnames, load=load)
        hidden = set(self._hidden_private().ids)
        if hidden:
            for values in result:
                if values["id"] in hidden:
                    for fname in self.PRIVATE_FIELDS:
                        if fname in values:
                            values[fname] = self._private_placeholder(fname)
        return result

    def export_data(self, fields_to_export):
        hidden = self._hidden_private()
        if not hidden:
            return super().export_data(fields_to_export)
        # Export what may be shown: the hidden emails' private fields are left empty.
        result = super().export_data(fields_to_export)
        private_columns = [
            index
            for index, path in enumerate(fields_to_export)
            if path.split("/")[0] in self.PRIVATE_FIELDS
        ]
        hidden_ids = set(hidden.ids)
        for record, row in zip(self, result["datas"], strict=False):
            if record.id in hidden_ids:
                for index in private_columns:
                    row[index] = self._private_placeholder(fields_to_export[index]) or ""
        return result

    def action_make_private(self):
        """Button: only the owner of the mailbox (and admins) see the content."""
        self._check_owner_or_admin()
        self.sudo().is_private = True
        # The chatter copies would show the content to whoever reads the records.
        self.sudo().link_ids.mail_message_id.unlink()
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
        for item in items:
            try:
                entry = self._parse_item(item, cap)
            except MessageParseError as exc:
                failed.append((item, str(exc)))
                continue
            if entry is None:
                skipped.append((item, self.env._("Older than the account's fetch-since date")))
                continue
            self._apply_filters(entry, rules, excluded)
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
    def _apply_filters(self, entry, rules, excluded_domains):
        """Evaluate the filters and excluded domains for one parsed message."""
        parsed = entry["parsed"]
        message = {
            "from_address": parsed.from_address,
            "recipients": parsed.to_addresses + parsed.cc_addresses,
            "subject": parsed.subject,
            "body": parsed.body_text,
        }
        entry["filter"] = evaluate(rules, message)
        entry["excluded"] = domain_excluded(
            [parsed.from_address, *message["recipients"]], excluded_domains
        )
        return entry

    @api.model
    def _reserve_new_messages(self, folder, prepared):
        """Lock the messages of a batch that are not stored yet (see ``_reserve_messages``)."""
        if not prepared or not folder.account_id._can_commit():
            return
        existing = self._find_existing(prepared)
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
        existing = self._find_existing(prepared)
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
    def _find_existing(self, prepared):
        """Map (key, fingerprint) to the ids of emails already stored, in one query."""
        self.flush_model(["message_id", "fingerprint"])
        self.env.cr.execute(
            "SELECT message_id, fingerprint, id FROM crm_mail_email WHERE message_id = ANY(%s)",
            ([entry["key"] for entry in prepared],),
        )
        return {(key, fp): email_id for key, fp, email_id in self.env.cr.fetchall()}

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
        """Map normalised addresses to internal users' ids (one query)."""
        # sudo: the sync matches addresses against every user.
        users = (
            self.env["res.users"]
            .sudo()
            .search([("partner_id.email_normalized", "in", list(addresses)), ("share", "=", False)])
        )
        result = defaultdict(set)
        for user in users:
            result[user.partner_id.email_normalized].add(user.id)
        return result

    @api.model
    def _refresh_address_users(self, users):
        """Re-match ``users`` against the archive after their address changed."""
        self.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            "DELETE FROM crm_mail_email_address_user_rel WHERE user_id = ANY(%s)", (users.ids,)
        )
        for user in users.filtered(lambda u: not u.share and u.partner_id.email_normalized):
            address = user.partner_id.email_normalized
            self.env.cr.execute(
                """INSERT INTO crm_mail_email_address_user_rel (email_id, user_id)
                   SELECT id, %s FROM crm_mail_email
                    WHERE from_address = %s
                       OR %s = ANY(string_to_array(recipient_addresses, ','))
                   ON CONFLICT DO NOTHING""",
                (user.id, address, address),
            )
        self.invalidate_model(["address_user_ids"])

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
        self._link_emails(linkable)
        self._process_cases(linkable)
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
        if self._hidden_private():
            raise UserError(self.env._("This email is private."))
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
        existing = self._find_existing([entry])
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

    @api.model
    def _find_thread_targets(self, emails, targets):
        """Replies follow the records their parent email (or Odoo message) is on."""
        refs_by_email = {
            email.id: {ref for ref in [email.in_reply_to, *(email.references or "").split()] if ref}
            for email in emails
        }
        all_refs = list(set().union(*refs_by_email.values())) if refs_by_email else []
        if not all_refs:
            return
        self.env["crm.mail.email.link"].flush_model()
        self.flush_model(["message_id"])
        self.env.cr.execute(
            """SELECT e.message_id, l.res_model, l.res_id
                 FROM crm_mail_email_link l JOIN crm_mail_email e ON e.id = l.email_id
                WHERE e.message_id = ANY(%s)""",
            (all_refs,),
        )
        by_ref = defaultdict(set)
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT message_id, model, res_id FROM mail_message
                WHERE message_id = ANY(%s) AND model = ANY(%s) AND res_id IS NOT NULL""",
            (all_refs, self._get_linkable_models()),
        )
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        for email_id, refs in refs_by_email.items():
            for ref in refs:
                for target in sorted(by_ref.get(ref, ())):
                    targets[email_id].setdefault(target, "thread")

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
        by_name = {case.name: case for case in cases}
        for email in emails:
            for name in refs[email.id]:
                case = by_name.get(name)
                if case and email.from_address in case._participant_addresses():
                    targets[email.id].setdefault(("crm.mail.case", case.id), "reference")
        return targets

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

    @api.model
    def _process_cases(self, emails):
        """Attach emails to their case, or open a case for the first of a thread."""
        Case = self.env["crm.mail.case"].sudo()
        new_cases = []
        for email in emails:
            link = email.link_ids.filtered(lambda link: link.res_model == "crm.mail.case")[:1]
            if link:
                case = Case.browse(link.res_id)
                email.case_id = case
                account = email._case_account() or case.account_id
                if email.import_mode == "live" and account.reopen_closed_cases:
                    case._reopen()
            elif email._should_create_case():
                new_cases.append(email)
        if not new_cases:
            return Case
        authors = self._get_author_partners(new_cases)
        cases = Case.create(
            [
                {
                    "subject": email.subject or self.env._("(no subject)"),
                    "partner_id": authors.get(email.from_address, self.env["res.partner"]).id,
                    "account_id": email._case_account().id,
                    "team_id": (
                        email._case_account().case_team_id or email._case_account().team_ids[:1]
                    ).id,
                }
                for email in new_cases
            ]
        )
        for email, case in zip(new_cases, cases, strict=True):
            email.case_id = case
            case._assign_case_user()
            if case.partner_id:
                case.message_subscribe(partner_ids=case.partner_id.ids)
        emails_by_id = self.browse([email.id for email in new_cases])
        self._create_links(
            emails_by_id,
            {
                email.id: {("crm.mail.case", case.id): "thread"}
                for email, case in zip(new_cases, cases, strict=True)
            },
            notify=False,
        )
        for email, case in zip(new_cases, cases, strict=True):
            if email._should_auto_reply():
                case._send_auto_reply(email)
        return cases

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
        partners = self._match_partners(all_addresses)
        partners_by_address = defaultdict(list)
        for partner in partners:
            partners_by_address[partner.email_normalized].append(partner)
        leads = self._match_leads(all_addresses, partners)
        leads_by_address = defaultdict(list)
        leads_by_partner = defaultdict(list)
        for lead in leads:
            if lead.email_normalized:
                leads_by_address[lead.email_normalized].append(lead)
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
        """Hook: partners whose normalised address is one of ``addresses``.

        Internal users' partners are left out: colleagues' addresses say nothing about
        which customer an email concerns.
        """
        partners = self.env["res.partner"].search([("email_normalized", "in", list(addresses))])
        internal = self.env["res.users"].search(
            [("partner_id", "in", partners.ids), ("share", "=", False)]
        )
        return partners - internal.partner_id

    @api.model
    def _match_leads(self, addresses, partners):
        """Hook: open leads and opportunities of these addresses or partners."""
        return self.env["crm.lead"].search(
            [
                ("stage_id.is_won", "=", False),
                "|",
                ("email_normalized", "in", list(addresses)),
                ("partner_id", "in", partners.ids),
            ]
        )

    @api.model
    def _create_links(self, emails, targets, notify=True):
        """Create the links (skipping existing ones) and their chatter entries."""
        Link = self.env["crm.mail.email.link"]
        existing = set()
        if emails:
            for link in Link.search([("email_id", "in", emails.ids)]):
                existing.add((link.email_id.id, link.res_model, link.res_id))
        pending = []
        for email in emails:
            for (model, res_id), reason in targets.get(email.id, {}).items():
                if (email.id, model, res_id) not in existing:
                    pending.append((email, model, res_id, reason))
                    existing.add((email.id, model, res_id))
        if not pending:
            return Link
        # sudo: the sync writes every record's chatter; what a user may read of it
        # is still decided by Odoo's rules on those records.
        public = [entry for entry in pending if not entry[0].is_private]
        authors = self._get_author_partners({email for email, *_rest in public})
        names = self._get_record_names({(model, res_id) for _email, model, res_id, _r in public})
        messages = (
            self.env["mail.message"]
            .sudo()
            .create(
                [
                    email._prepare_chatter_values(
                        model, res_id, authors.get(email.from_address), names.get((model, res_id))
                    )
                    for email, model, res_id, _reason in public
                ]
            )
        )
        # Private emails are linked but not shown in any chatter.
        message_of = {
            (email.id, model, res_id): message.id
            for (email, model, res_id, _reason), message in zip(public, messages, strict=True)
        }
        links = Link.sudo().create(
            [
                {
                    "email_id": email.id,
                    "res_model": model,
                    "res_id": res_id,
                    "reason": reason,
                    "mail_message_id": message_of.get((email.id, model, res_id), False),
                }
                for email, model, res_id, reason in pending
            ]
        )
        if notify:
            links._notify_followers()
        return links

    def _prepare_chatter_values(self, res_model, res_id, author=None, record_name=None):
        """Hook: the mail.message values of this email in a record's chatter.

        ``reply_to`` and ``record_name`` are given so that mail.message does not
        compute them one message at a time.
        """
        self.ensure_one()
        return {
            "model": res_model,
            "res_id": res_id,
            "message_type": "email",
            # An internal note: the synced email is history for the team; customers
            # following the record (portal) do not receive it again.
            "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
            "body": self.body_html,
            "subject": self.subject,
            "email_from": self.email_from,
            "reply_to": self.reply_to or self.email_from,
            "record_name": record_name or False,
            "author_id": author.id if author else False,
            "date": self.date,
            "message_id": self.message_id,
            "attachment_ids": [Command.set(self.attachment_ids.ids)],
        }

    @api.model
    def _get_record_names(self, targets):
        """Map (model, id) to the record's display name, one query per model."""
        ids_by_model = defaultdict(list)
        for model, res_id in targets:
            ids_by_model[model].append(res_id)
        names = {}
        for model, ids in ids_by_model.items():
            # sudo: names for the chatter copies, written by the sync.
            records = self.env[model].sudo().browse(ids)
            for record in records:
                names[(model, record.id)] = record.display_name
        return names

    @api.model
    def _get_author_partners(self, emails):
        """Map sender addresses to a partner, in one query."""
        addresses = list({email.from_address for email in emails if email.from_address})
        if not addresses:
            return {}
        partners = self.env["res.partner"].search(
            [("email_normalized", "in", addresses)], order="id"
        )
        result = {}
        for partner in partners:
            result.setdefault(partner.email_normalized, partner)
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
