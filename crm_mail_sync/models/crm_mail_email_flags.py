# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The owner's read and starred state and the server's flags (see
``crm_mail_account_flags.py``): set from the server, queued for it."""

from odoo import Command, api, models


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    @api.model
    def _set_owner_state(self, owner, read=None, starred=None):
        """Set ``owner``'s read and starred state from the server's flags, without
        queuing it back for the server.

        :param read: ``{email_id: bool}``; likewise ``starred``
        """
        for field_name, changes in (("read_by_user_ids", read), ("starred_by_user_ids", starred)):
            if not changes:
                continue
            on = [email_id for email_id, value in changes.items() if value]
            off = [email_id for email_id, value in changes.items() if not value]
            # sudo: the import records the mailbox owner's state, whoever runs it.
            if on:
                self.browse(on).sudo().write({field_name: [Command.link(owner.id)]})
            if off:
                self.browse(off).sudo().write({field_name: [Command.unlink(owner.id)]})

    def _inverse_is_read(self):
        result = super()._inverse_is_read()
        self._queue_server_flag("pending_seen", self.filtered("is_read"))
        return result

    def _inverse_is_starred(self):
        result = super()._inverse_is_starred()
        self._queue_server_flag("pending_flagged", self.filtered("is_starred"))
        return result

    def _queue_server_flag(self, field_name, flagged):
        """Queue the current user's change for the server, on the locations of these
        emails in their own mailboxes with two-way flags (nothing otherwise)."""
        if not self:
            return
        # sudo: the user's own mailboxes' settings and the emails' locations, which
        # users read but never write; only the current user's mailboxes are taken.
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .search(
                [
                    ("sync_flags", "=", True),
                    ("account_type", "=", "personal"),
                    ("user_id", "=", self.env.uid),
                ]
            )
        )
        if not accounts:
            return
        locations = (
            self.env["crm.mail.email.location"]
            .sudo()
            .search(
                [("email_id", "in", self.ids), ("account_id", "in", accounts.ids), ("uid", ">", 0)]
            )
        )
        locations._queue_flag(field_name, set(flagged.ids))
