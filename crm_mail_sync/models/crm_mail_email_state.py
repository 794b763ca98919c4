# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Each reader's own state of an email: read, starred, in their trash, remote images.

Any reader keeps their own state without write access to the email; the state is
per user, never shared (reading an email reads it for you only).
"""

from markupsafe import Markup

from odoo import Command, api, fields, models

from ..lib.remote_images import block_remote_images


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    # Per-user state any reader may set on the emails they can read.
    USER_STATE_FIELDS = {"is_read", "is_starred"}

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

    def write(self, vals):
        if not self.env.su and vals and set(vals) <= self.USER_STATE_FIELDS:
            # Readers keep their own state without write access to the email.
            self.check_access("read")
            result = super(CrmMailEmail, self.sudo()).write(vals)
            # The superuser's write cached the new state under its own key (Odoo keys
            # uid-dependent values by uid and su): drop it, so that this user reads
            # what was just written within the same request.
            self.invalidate_recordset(list(vals))
            return result
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

    def _set_user_state(self, field_name, value):
        """Set one of the current user's flags (``USER_STATE_FIELDS``) on these emails,
        writing only those where it changes."""
        self.filtered(lambda email: email[field_name] != value).write({field_name: value})
        return True

    def action_mark_read(self):
        """Mark these emails read for the current user."""
        return self._set_user_state("is_read", True)

    def action_mark_unread(self):
        """Mark these emails unread for the current user."""
        return self._set_user_state("is_read", False)

    def action_star(self):
        """Star these emails for the current user."""
        return self._set_user_state("is_starred", True)

    def action_unstar(self):
        """Unstar these emails for the current user."""
        return self._set_user_state("is_starred", False)

    def web_read(self, specification):
        # Opening an email in the form (the only reader of the displayed body) reads it.
        if len(self) == 1 and "body_display" in specification:
            self.action_mark_read()
        return super().web_read(specification)

    # Odoo serves web_read on a read-only cursor; this one records the read state.
    web_read._readonly = False

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
