# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.4.0: mailboxes, emails, cases and filters carry a company. Fill it before
the update makes it required: a mailbox takes its owner's company (group mailboxes
the first company), an email the company of the first mailbox that holds it (or
sent it), a case its mailbox's (else its team's), a filter of a mailbox the
mailbox's (other filters keep none: they apply to every company)."""

from odoo.tools import SQL


def _add_column(cr, table):
    cr.execute(
        SQL("ALTER TABLE %s ADD COLUMN IF NOT EXISTS company_id integer", SQL.identifier(table))
    )


def migrate(cr, version):
    cr.execute("SELECT min(id) FROM res_company")
    (first,) = cr.fetchone()
    for table in ("crm_mail_account", "crm_mail_email", "crm_mail_case", "crm_mail_filter"):
        _add_column(cr, table)
    cr.execute(
        """UPDATE crm_mail_account account
              SET company_id = COALESCE(
                  (SELECT u.company_id FROM res_users u
                    WHERE u.id = account.user_id AND account.account_type = 'personal'),
                  %s)
            WHERE company_id IS NULL""",
        (first,),
    )
    cr.execute(
        """UPDATE crm_mail_email email SET company_id = holder.company_id
             FROM (SELECT DISTINCT ON (location.email_id) location.email_id, account.company_id
                     FROM crm_mail_email_location location
                     JOIN crm_mail_account account ON account.id = location.account_id
                    WHERE location.email_id IS NOT NULL
                 ORDER BY location.email_id, location.id) holder
            WHERE holder.email_id = email.id AND email.company_id IS NULL"""
    )
    cr.execute(
        """UPDATE crm_mail_email email SET company_id = COALESCE(account.company_id, %s)
             FROM crm_mail_email email2
        LEFT JOIN crm_mail_account account ON account.id = email2.sent_account_id
            WHERE email2.id = email.id AND email.company_id IS NULL""",
        (first,),
    )
    cr.execute(
        """UPDATE crm_mail_case c
              SET company_id = COALESCE(
                  (SELECT a.company_id FROM crm_mail_account a WHERE a.id = c.account_id),
                  (SELECT t.company_id FROM crm_team t WHERE t.id = c.team_id),
                  %s)
            WHERE company_id IS NULL""",
        (first,),
    )
    cr.execute(
        """UPDATE crm_mail_filter f SET company_id = a.company_id
             FROM crm_mail_account a
            WHERE a.id = f.account_id AND f.company_id IS NULL"""
    )
