# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Forgetting an address (GDPR erasure): every email from or to it is deleted from the
archive, with its chatter entries, files and traces, and no later sync imports mail
from or to it again. The server's mailboxes are not touched."""

import base64
import logging

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..lib.addresses import address_forms, normalize_address

_logger = logging.getLogger(__name__)

BATCH_SIZE = 200


class CrmMailErasure(models.Model):
    _name = "crm.mail.erasure"
    _description = "Forgotten Email Address"
    _order = "id desc"
    _rec_name = "id"

    address = fields.Char(
        readonly=True,
        copy=False,
        help="The address being forgotten; emptied once its emails are deleted, when only "
        "the keyed hash below remains.",
    )
    address_hash = fields.Char(
        required=True,
        readonly=True,
        index=True,
        copy=False,
        help="A keyed hash of the address: later syncs recognise its mail and skip it, "
        "without the address being kept.",
    )
    state = fields.Selection(
        [("running", "Erasing"), ("done", "Forgotten")],
        required=True,
        default="running",
        readonly=True,
    )
    email_count = fields.Integer(string="Emails Deleted", readonly=True)
    requested_by_id = fields.Many2one(
        "res.users", readonly=True, default=lambda self: self.env.user
    )
    done_at = fields.Datetime(string="Forgotten On", readonly=True)

    _sql_constraints = [
        ("address_hash_unique", "UNIQUE(address_hash)", "This address is forgotten already."),
    ]

    @api.depends("state", "create_date")
    def _compute_display_name(self):
        for erasure in self:
            erasure.display_name = self.env._("Erasure #%s", erasure.id)

    @api.model
    def _hash(self, address):
        """The keyed hash an address is remembered by (one form of it)."""
        return tools.hmac(self.env(su=True), "crm_mail_sync.erasure", address)

    @api.model
    def _forgotten_checker(self):
        """A function telling whether a list of normalised addresses holds a forgotten
        one; the hashes are read once, for a whole batch."""
        # sudo: the sync reads the list, whoever runs it; it holds no address.
        hashes = set(self.sudo().search([]).mapped("address_hash"))
        if not hashes:
            return lambda addresses: False

        def is_forgotten(addresses):
            return any(
                self._hash(form) in hashes
                for address in addresses
                if address
                for form in address_forms(address)
            )

        return is_forgotten

    @api.model
    def _count_emails(self, address):
        """How many emails are from or to ``address``."""
        Email = self.env["crm.mail.email"].sudo()
        Email.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            SQL("SELECT count(*) FROM crm_mail_email WHERE %s", Email._address_condition(address))
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _forget(self, address):
        """Start forgetting ``address``: record it, erase a first batch at once.

        :return: the erasure record; its state tells whether everything went already
            (larger archives go on in the scheduled action, one transaction per batch)
        :raise UserError: when the address is not one, or no email has it
        """
        normalized = normalize_address(address or "")
        if not normalized:
            raise UserError(self.env._("%s is not an email address.", address or ""))
        if not self._count_emails(normalized):
            raise UserError(
                self.env._(
                    "No email from or to %s is stored: there is nothing to forget.", normalized
                )
            )
        address_hash = self._hash(normalized)
        erasure = self.search([("address_hash", "=", address_hash)])
        if erasure:
            erasure.write({"address": normalized, "state": "running"})
        else:
            erasure = self.create({"address": normalized, "address_hash": address_hash})
        if not erasure._erase_batch():
            self.env.ref("crm_mail_sync.ir_cron_crm_mail_erasure")._trigger()
        return erasure

    def _erase_batch(self, limit=BATCH_SIZE):
        """Delete the next ``limit`` emails of this erasure's address, whole: each with
        its chatter entries, files and saved copies, links and locations.

        Runs in the caller's transaction, so that a batch is deleted entirely or not
        at all; an interrupted erasure goes on from where the last committed batch
        ended. :return: True when nothing is left to delete
        """
        self.ensure_one()
        if self.state == "done":
            return True
        Email = self.env["crm.mail.email"].sudo()
        Email.flush_model(["from_address", "recipient_addresses"])
        self.env.cr.execute(
            SQL(
                "SELECT id FROM crm_mail_email WHERE %s ORDER BY id LIMIT %s",
                Email._address_condition(self.address),
                limit,
            )
        )
        emails = Email.browse([row[0] for row in self.env.cr.fetchall()])
        if emails:
            emails.unlink()
            self.email_count += len(emails)
        if len(emails) < limit:
            self._erase_traces()
            self.write({"state": "done", "address": False, "done_at": fields.Datetime.now()})
            _logger.info("Erasure %s done: %s emails deleted", self.id, self.email_count)
            return True
        return False

    def _erase_traces(self):
        """Hook: delete what else holds the address: auto-reply records, pending
        retroactive links, and quarantined messages that mention it."""
        self.ensure_one()
        forms = list(address_forms(self.address))
        # sudo: records of the sync, which only administrators manage.
        self.env["crm.mail.auto.reply"].sudo().search([("address", "in", forms)]).unlink()
        self.env["crm.mail.link.request"].sudo().search([("address", "in", forms)]).unlink()
        needles = [form.encode() for form in forms]
        quarantined = self.env["crm.mail.quarantine"].sudo().search([])
        quarantined.filtered(
            lambda entry: any(
                needle in base64.b64decode(entry.raw_message or b"").lower() for needle in needles
            )
        ).unlink()

    @api.model
    def _cron_process(self):
        """Scheduled entry point: erase a batch of each running erasure.

        Each call is one transaction: the scheduler commits after it and, while some
        erasures are still running (``ir.cron._notify_progress``), calls it again at
        once, so an erasure cut short resumes at its next batch.
        """
        running = self.search([("state", "=", "running")])
        for erasure in running:
            erasure._erase_batch()
        remaining = self.search_count([("state", "=", "running")])
        self.env["ir.cron"]._notify_progress(done=len(running), remaining=remaining)

    def action_remember_again(self):
        """Button: stop skipping this address's mail in later syncs (nothing comes back)."""
        self.filtered(lambda erasure: erasure.state == "done").unlink()
        return True
