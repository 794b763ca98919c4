# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

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
        """Archived emails from or to ``address`` (exact match), oldest id first."""
        Email = self.env["crm.mail.email"]
        Email.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            """SELECT id FROM crm_mail_email
                WHERE id > %s
                  AND (from_address = %s
                       OR %s = ANY(string_to_array(recipient_addresses, ',')))
             ORDER BY id LIMIT %s""",
            (after_id, address, address, limit or BATCH_SIZE),
        )
        return Email.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _link_records(self, records):
        """Link the archive to ``records`` (partners or leads) that gained an address.

        A small archive is linked at once; a large one is left to the scheduled
        action, batch by batch, so saving the record stays fast.
        """
        requests = []
        for record in records:
            address = record.email_normalized
            if not address:
                continue
            emails = self._emails_of_address(address)
            if len(emails) < BATCH_SIZE:
                self.env["crm.mail.email"]._link_emails(emails, notify=False)
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
            self.env["crm.mail.email"]._link_emails(emails, notify=False)
            done += len(emails)
            if len(emails) < BATCH_SIZE:
                request.unlink()
            else:
                request.last_email_id = max(emails.ids)
        self.env["ir.cron"]._notify_progress(done=done, remaining=self.search_count([]))
