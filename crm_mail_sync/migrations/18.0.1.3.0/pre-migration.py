# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.3.0: what a group mailbox does with the first email of a new conversation is
now one choice, ``conversation_action`` (nothing, a case, a lead), of which the former
checkbox ``create_cases`` is computed. Mailboxes that opened cases go on doing so: the
column is filled before the update, so the default ("none") does not replace it."""


def migrate(cr, version):
    cr.execute("ALTER TABLE crm_mail_account ADD COLUMN IF NOT EXISTS conversation_action VARCHAR")
    cr.execute(
        """UPDATE crm_mail_account
              SET conversation_action = CASE WHEN create_cases THEN 'case' ELSE 'none' END
            WHERE conversation_action IS NULL
               OR (conversation_action = 'none' AND create_cases)"""
    )
