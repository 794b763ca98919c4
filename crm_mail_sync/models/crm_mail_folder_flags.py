# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""A folder's side of two-way flags: what changed on the server since the last sync."""

from odoo import models

from .crm_mail_folder import BigInteger


class CrmMailFolder(models.Model):
    _inherit = "crm.mail.folder"

    # Without CONDSTORE, the flags of this many of the folder's latest messages are
    # read again at each sync (one FETCH of flags, no bodies).
    _flag_rescan_limit = 500

    flags_modseq = BigInteger(
        string="Flags Mod-Sequence",
        readonly=True,
        copy=False,
        help="The server's HIGHESTMODSEQ when the flags were last read back (two-way "
        "flags on a server with CONDSTORE): the next sync asks only for what changed "
        "since.",
    )

    def _read_server_flags(self, session):
        """The flags on the server of this folder's messages that may have changed:
        those changed since ``flags_modseq`` (CONDSTORE), else those of the latest
        ``_flag_rescan_limit`` messages.

        :return: ``{uid: flags}``; empty when the folder was renumbered (its scan
            starts again)
        """
        self.ensure_one()
        modseq = None
        if session.condstore:
            uidvalidity, modseq = session.highest_modseq(self.name)
            if uidvalidity != self.uidvalidity:
                return {}
            if modseq is not None and modseq == self.flags_modseq:
                return {}
        if modseq is not None and self.flags_modseq:
            uidvalidity, flags = session.fetch_flags(self.name, changed_since=self.flags_modseq)
        else:
            # No mod-sequences, or none recorded yet: the latest messages, by UID.
            uids = self.env["crm.mail.email.location"].search(
                [("folder_id", "=", self.id), ("uid", ">", 0), ("email_id", "!=", False)],
                order="uid desc",
                limit=self._flag_rescan_limit,
            )
            uidvalidity, flags = session.fetch_flags(self.name, uids=uids.mapped("uid"))
        if uidvalidity != self.uidvalidity:
            return {}
        if modseq is not None:
            self.flags_modseq = modseq
        return flags

    def _apply_server_flags(self, server_flags, owner):
        """Give ``owner`` the read and starred state the server's flags changed to.

        A flag whose change in Odoo waits to be written is left alone: Odoo's change
        is the newer.

        :param server_flags: ``{uid: flags}`` of this folder
        """
        self.ensure_one()
        if not server_flags or not owner:
            return
        Location = self.env["crm.mail.email.location"]
        locations = Location.search(
            [
                ("folder_id", "=", self.id),
                ("uid", "in", list(server_flags)),
                ("email_id", "!=", False),
            ]
        )
        state = {"is_read": ({}, "pending_seen"), "is_starred": ({}, "pending_flagged")}
        rewritten = {}
        for location in locations:
            old = location._server_flag_set()
            new = {flag.lower() for flag in server_flags[location.uid]}
            if old == new:
                continue
            rewritten.setdefault(" ".join(server_flags[location.uid]) or False, []).append(
                location.id
            )
            for field_name, flag in (("is_read", "\\seen"), ("is_starred", "\\flagged")):
                changes, pending = state[field_name]
                if (flag in old) != (flag in new) and not location[pending]:
                    changes[location.email_id.id] = flag in new
        for value, ids in rewritten.items():
            Location.browse(ids).server_flags = value
        self.env["crm.mail.email"]._set_owner_state(
            owner, read=state["is_read"][0], starred=state["is_starred"][0]
        )
