# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..fields import SanitizeOnceHtml
from ..lib.addresses import address_forms, address_list, is_own_address
from ..lib.threading import thread_references

_logger = logging.getLogger(__name__)


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
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        default=lambda self: self.env.company,
        help="The company of the mailbox that stored this email. A message held by "
        "mailboxes of two companies is stored once per company, so that each "
        "company's users see their own copy only.",
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
    case_id = fields.Many2one("crm.mail.case", readonly=True, index=True, ondelete="set null")
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
            # The company last: the import looks emails up by Message-ID (the first
            # column), and a single-company database keeps one row per message.
            "UNIQUE(message_id, fingerprint, company_id)",
            "This email is already stored.",
        ),
    ]

    # ------------------------------------------------------------------
    # Who may read an email
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    @api.depends("account_ids.user_id", "account_ids.account_type", "address_user_ids", "team_ids")
    def _compute_is_mine(self):
        user = self.env.user
        for email in self.sudo():
            email.is_in_my_mailbox = bool(email.account_ids._is_owned_by(user))
            email.is_addressed_to_me = user in email.address_user_ids
            email.is_of_my_teams = bool(
                email.team_ids.filtered(
                    lambda team: team.user_id == user or user in team.crm_team_member_ids.user_id
                )
            )

    def _search_mine(self, operator, value, subquery):
        """``id IN subquery`` (or NOT IN) for a search on one of the is_* fields above."""
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(
                self.env._(
                    "Unsupported search on this field: %(operator)s %(value)s",
                    operator=operator,
                    value=value,
                )
            )
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
            if not email.sudo().account_ids._is_owned_by(self.env.user):
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
    def _users_by_address(self, addresses):
        """Map normalised addresses to internal users' ids (two queries): the users'
        main addresses and their confirmed additional ones, whichever form of an
        internationalised domain the address is written in."""
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
        additional = self.env["crm.mail.user.address"]._confirmed_users_by_address(addresses)
        for address, owners in additional.items():
            result[address].update(owners.filtered(lambda user: not user.share).ids)
        return result

    @api.model
    def _address_condition(self, address, alias="crm_mail_email"):
        """SQL condition on the emails ``alias``: ``address`` (in any of its forms) is
        in From, To or Cc. Both tests are indexed (btree on the sender, GIN on the
        recipients), so its cost follows the emails of the address, not the archive.

        :param address: an address, or an ``SQL`` text[] expression of its forms
        """
        if not isinstance(address, SQL):
            address = SQL("%s::text[]", list(address_forms(address)))
        return SQL(
            "(%s = ANY(%s) OR string_to_array(%s, ',') && %s)",
            SQL.identifier(alias, "from_address"),
            address,
            SQL.identifier(alias, "recipient_addresses"),
            address,
        )

    @api.model
    def _refresh_address_users(self, users):
        """Re-match ``users`` against the archive after their addresses changed (the
        main one, or a confirmed additional one): one statement per user."""
        self.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            "DELETE FROM crm_mail_email_address_user_rel WHERE user_id = ANY(%s)", (users.ids,)
        )
        addresses_of = users._crm_mail_addresses()
        for user in users.filtered(lambda u: not u.share):
            forms = sorted(
                {form for address in addresses_of[user.id] for form in address_forms(address)}
            )
            if not forms:
                continue
            self.env.cr.execute(
                SQL(
                    """INSERT INTO crm_mail_email_address_user_rel (email_id, user_id)
                       SELECT id, %s FROM crm_mail_email WHERE %s
                       ON CONFLICT DO NOTHING""",
                    user.id,
                    self._address_condition(SQL("%s::text[]", forms)),
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

    # ------------------------------------------------------------------
    # Linking
    # ------------------------------------------------------------------

    def _thread_references(self):
        """The Message-IDs this email answers: In-Reply-To, then References, newest first."""
        self.ensure_one()
        return thread_references(self.in_reply_to, self.references)

    def _address_list(self):
        """The normalised addresses of From, To and Cc of this email, sender first."""
        self.ensure_one()
        return address_list(self.from_address, self.recipient_addresses)

    def _addresses(self):
        """The addresses of From, To and Cc of this email, in every form."""
        return {form for address in self._address_list() for form in address_forms(address)}

    # ------------------------------------------------------------------
    # Linking by address
    # ------------------------------------------------------------------

    def _external_addresses(self, own=None):
        """The addresses of From/To/Cc that are not the email's own mailboxes.

        :param own: the normalised addresses of the email's mailboxes, when the caller
            knows them already (``_own_addresses`` of its accounts)
        """
        self.ensure_one()
        if own is None:
            own = self.account_ids._own_addresses()
        # A mailbox's address with a plus tag (sales+lead42@) is the mailbox's own.
        return {address for address in self._address_list() if not is_own_address(address, own)}

    # ------------------------------------------------------------------
    # Chatter entries
    # ------------------------------------------------------------------

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
