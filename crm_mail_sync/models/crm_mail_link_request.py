# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.tools import SQL

from ..lib.filters import domain_excluded, parse_domains
from .crm_mail_folder import BigInteger

BATCH_SIZE = 500


class CrmMailLinkRequest(models.Model):
    _name = "crm.mail.link.request"
    _description = "Pending Retroactive Linking"
    _order = "id"

    res_model = fields.Char(required=True)
    res_id = fields.Many2oneReference(model_field="res_model", required=True)
    address = fields.Char(required=True, help="The normalised address to look for.")
    last_email_id = BigInteger(
        help="Emails up to this id have been linked already (progress of the job)."
    )

    @api.model
    def _emails_of_address(self, address, after_id=0, limit=None):
        """Archived emails from or to ``address`` that may be linked, oldest id first.

        An indexed lookup (see crm.mail.email.init), so its cost follows the emails of
        the address, not the size of the archive. Emails a filter or an excluded domain
        keeps unlinked stay so; an address in an excluded domain (global, or of the
        mailbox holding the email) links nothing.
        """
        Email = self.env["crm.mail.email"]
        Account = self.env["crm.mail.account"].sudo().with_context(active_test=False)
        # sudo: a system setting.
        global_domains = parse_domains(
            self.env["ir.config_parameter"].sudo().get_param("crm_mail_sync.excluded_domains")
        )
        if domain_excluded([address], global_domains):
            return Email
        excluding = [
            account.id
            for account in Account.search([("excluded_domains", "!=", False)])
            # The global domains were tested above: only the account's own are left.
            if domain_excluded([address], parse_domains(account.excluded_domains))
        ]
        Email.flush_model(["from_address", "recipient_addresses", "no_link", "account_ids"])
        self.env.cr.execute(
            SQL(
                """SELECT id FROM crm_mail_email
                    WHERE id > %s AND %s AND no_link IS NOT TRUE
                      AND NOT EXISTS (SELECT 1 FROM crm_mail_email_account_rel r
                                       WHERE r.email_id = crm_mail_email.id
                                         AND r.account_id = ANY(%s))
                 ORDER BY id LIMIT %s""",
                after_id,
                Email._address_condition(address),
                excluding,
                limit or BATCH_SIZE,
            )
        )
        return Email.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _link_records(self, records):
        """Link the archive to linkable ``records`` that gained an address.

        A small archive is linked at once; a large one is left to the scheduled
        action, batch by batch, so saving the record stays fast.
        """
        requests = []
        for record in records:
            address = record._crm_mail_address()
            if not address:
                continue
            emails = self._emails_of_address(address)
            if len(emails) < BATCH_SIZE:
                self.env["crm.mail.linking"]._link_emails(emails, notify=False)
            else:
                requests.append(
                    {"res_model": record._name, "res_id": record.id, "address": address}
                )
        if requests:
            self.create(requests)
            self.env.ref("crm_mail_sync.ir_cron_crm_mail_link_requests")._trigger()

    @api.model
    def _cron_process(self):
        """Scheduled entry point: link the next batch of each pending request."""
        done = 0
        for request in self.search([]):
            emails = self._emails_of_address(request.address, request.last_email_id)
            self.env["crm.mail.linking"]._link_emails(emails, notify=False)
            done += len(emails)
            if len(emails) < BATCH_SIZE:
                request.unlink()
            else:
                request.last_email_id = max(emails.ids)
        self.env["ir.cron"]._notify_progress(done=done, remaining=self.search_count([]))
