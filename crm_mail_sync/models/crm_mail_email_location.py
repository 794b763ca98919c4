# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

from .crm_mail_folder import BigInteger


class CrmMailEmailLocation(models.Model):
    _name = "crm.mail.email.location"
    _description = "Where an Email Was Seen"
    _order = "id"

    email_id = fields.Many2one(
        "crm.mail.email",
        ondelete="cascade",
        index=True,
        help="Empty when the message was deliberately not imported (e.g. older than "
        "the account's fetch-since date): the location still marks it as seen.",
    )
    account_id = fields.Many2one("crm.mail.account", required=True, ondelete="cascade", index=True)
    folder_id = fields.Many2one("crm.mail.folder", required=True, ondelete="cascade", index=True)
    uid = BigInteger(string="UID", help="IMAP UID of the message in its folder.")
    pop_uidl = fields.Char(string="POP3 UIDL", help="POP3 unique id of the message.")
    server_flags = fields.Char(
        help="IMAP flags the message had on the server when it was imported."
    )
    skip_reason = fields.Char(help="Why the message was seen but not imported.")
    # On the location, not on the email: the id is the mailbox's own (one email may be
    # held by several accounts, each with its id), and the sync asks "which of these
    # ids does this account hold" once per batch (crm.mail.folder._emails_by_provider_id).
    provider_id = fields.Char(
        string="Provider Message ID",
        index="btree_not_null",
        help="The id the provider gives the message in every folder that shows it "
        "(Gmail's X-GM-MSGID): a message the account holds already is not downloaded "
        "again from another folder.",
    )
    provider_labels = fields.Char(
        string="Labels", help="The Gmail labels the message had when it was seen here."
    )

    def init(self):
        # Partial unique indexes: an IMAP location has a UID and no UIDL, a POP3 one
        # the reverse (an unset Integer is stored as 0, which would collide).
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS crm_mail_email_location_folder_uid_uniq
                   ON crm_mail_email_location (folder_id, uid) WHERE uid > 0"""
        )
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS crm_mail_email_location_folder_uidl_uniq
                   ON crm_mail_email_location (folder_id, pop_uidl)
                WHERE pop_uidl IS NOT NULL"""
        )
