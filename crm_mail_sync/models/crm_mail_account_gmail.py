# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""Gmail: one message shows in INBOX, in a folder per label and in All Mail.

The sync downloads each message once whatever folders show it (see
``crm.mail.folder._fetch_items``); the account remembers whether its server speaks
Gmail's extension, so that the folder list can offer All Mail as the complete archive.
"""

from odoo import fields, models


class CrmMailAccount(models.Model):
    _inherit = "crm.mail.account"

    gmail_extension = fields.Boolean(
        readonly=True,
        copy=False,
        help="The server speaks Gmail's IMAP extension (X-GM-EXT-1): a message shown "
        "in several folders (INBOX, labels, All Mail) is downloaded once, and each "
        "synced folder that shows it becomes one of its locations.",
    )

    def _connect(self, session):
        """Open ``session``, and remember whether the server speaks Gmail's extension."""
        session = super()._connect(session)
        gmail = bool(getattr(session, "gmail_extension", False))
        # Written only when it changes: the IMAP IDLE listener connects too, and must
        # not write the account's row at every connection.
        if self.gmail_extension != gmail:
            self.gmail_extension = gmail
        return session
