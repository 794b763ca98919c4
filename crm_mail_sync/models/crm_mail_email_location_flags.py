# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The queue of two-way flags: the owner's changes waiting to be written on the server.

A location is one message in one folder: its flag to add or remove waits on it until
the next sync writes it (``crm.mail.account._push_flag_changes``). The last change
wins; one that undoes a waiting one clears it.
"""

from odoo import fields, models

PENDING = [("add", "Set"), ("remove", "Clear")]


class CrmMailEmailLocation(models.Model):
    _inherit = "crm.mail.email.location"

    # The queue's fields and the IMAP flag each writes.
    _PENDING_FLAGS = {"pending_seen": "\\Seen", "pending_flagged": "\\Flagged"}

    pending_seen = fields.Selection(
        PENDING,
        string="\\Seen to Write",
        readonly=True,
        index="btree_not_null",
        help="Read state changed in Odoo, to be written on the server at the next sync.",
    )
    pending_flagged = fields.Selection(
        PENDING,
        string="\\Flagged to Write",
        readonly=True,
        index="btree_not_null",
        help="Starred state changed in Odoo, to be written on the server at the next sync.",
    )

    def _server_flag_set(self):
        """The flags the server had last time (lowercase)."""
        self.ensure_one()
        return {flag.lower() for flag in (self.server_flags or "").split()}

    def _flags_written(self):
        """The queued changes of these locations are on the server now."""
        rewritten = {}
        for location in self:
            flags = (location.server_flags or "").split()
            for field_name, flag in self._PENDING_FLAGS.items():
                has = flag.lower() in {f.lower() for f in flags}
                if location[field_name] == "add" and not has:
                    flags.append(flag)
                elif location[field_name] == "remove" and has:
                    flags = [f for f in flags if f.lower() != flag.lower()]
            rewritten.setdefault(" ".join(flags) or False, []).append(location.id)
        for value, ids in rewritten.items():
            self.browse(ids).write(
                {"server_flags": value, "pending_seen": False, "pending_flagged": False}
            )

    def _queue_flag(self, field_name, wanted):
        """Queue the owner's change of one flag (``_PENDING_FLAGS``) on these locations.

        :param wanted: the ids of the emails that should carry the flag; the others
            should not
        """
        flag = self._PENDING_FLAGS[field_name].lower()
        groups = {}
        for location in self:
            want = location.email_id.id in wanted
            value = False if (flag in location._server_flag_set()) == want else None
            if value is None:
                value = "add" if want else "remove"
            if location[field_name] != value:
                groups.setdefault(value, []).append(location.id)
        for value, ids in groups.items():
            self.browse(ids).write({field_name: value})
