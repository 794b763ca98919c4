# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""The import's side of read state: the server's \\Seen and \\Flagged, and a filter's
"mark read", become the owner's state on a personal mailbox."""

from odoo import api, models

SEEN = "\\seen"
FLAGGED = "\\flagged"


class CrmMailGateway(models.AbstractModel):
    _inherit = "crm.mail.gateway"

    @api.model
    def _store(self, batch):
        return self._apply_server_state(super()._store(batch))

    @api.model
    def _prepare_email_values(self, folder, item):
        vals = super()._prepare_email_values(folder, item)
        if folder.account_id._flag_owner():
            # A personal mailbox's "mark read" is its owner's (``_apply_server_state``),
            # not everyone's.
            vals["is_marked_read"] = False
        return vals

    @api.model
    def _apply_server_state(self, batch):
        """Hook: on a personal mailbox, a message the server marked \\Seen (or a filter
        marked read) is read for the mailbox's owner, one \\Flagged starred; on a
        group mailbox nothing: it arrives unread for everyone. An email stored
        already (from another folder or mailbox) gains that state too. POP3 carries
        no flags."""
        owner = batch.folder.account_id._flag_owner()
        if not owner:
            return batch
        read, starred = {}, {}
        for item in batch.pending + batch.located:
            if not item.email_id:
                continue
            flags = {flag.lower() for flag in item.flags or ()}
            if SEEN in flags or item.filter.mark_read:
                read[item.email_id] = True
            if FLAGGED in flags:
                starred[item.email_id] = True
        self.env["crm.mail.email"]._set_owner_state(owner, read=read, starred=starred)
        return batch
