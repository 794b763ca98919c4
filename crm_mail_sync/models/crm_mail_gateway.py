# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The import chain: a folder's batch of fetched messages becomes archived emails.

Like Odoo's mail gateway (``message_parse`` -> ``message_route`` ->
``_message_route_process``), the import is a chain of small steps, each taking the
batch (``lib.batch.ImportBatch``) and returning it, each overridable by ``_inherit``::

    _prepare:  _parse -> _forget -> _filter -> _skip_known
    (the sync run may reserve the new messages here: it alone commits)
    _import:   _store -> _thread -> _link -> _open_cases -> _open_leads
               -> _start_reply_clocks -> _notify, then _put_aside

Nothing here commits: the caller's transaction (a sync run, "Fetch now", a retry
from the quarantine) owns it.
"""

import base64
import logging
from datetime import timezone

from psycopg2 import Error as PsycopgError

from odoo import Command, api, fields, models

from ..fields import SanitizedHtml
from ..lib.addresses import (
    address_forms,
    address_list,
    domain_of,
    is_own_address,
    normalize_address,
)
from ..lib.batch import BatchItem, ImportBatch
from ..lib.concurrency import is_concurrency_error
from ..lib.filters import domain_excluded
from ..lib.fingerprint import content_fingerprint, message_key
from ..lib.freemail import is_freemail
from ..lib.mime import MessageParseError, auto_reply_blocker, mark_text_quotes, parse_message

_logger = logging.getLogger(__name__)


def _clean(text):
    """PostgreSQL text cannot hold NUL characters; hostile mail may contain them."""
    return text.replace("\x00", "") if text else text


class CrmMailGateway(models.AbstractModel):
    _name = "crm.mail.gateway"
    _description = "Mail Import Chain"

    # ------------------------------------------------------------------
    # The chain
    # ------------------------------------------------------------------

    @api.model
    def _import_batch(self, folder, items, reserve=None):
        """Import the messages fetched from ``folder``, the whole chain at once.

        Each message is stored once, whatever folder or account it comes from: an
        email already stored only gains a location. Messages that cannot be parsed or
        stored go to the quarantine with their raw bytes; the rest of the batch goes on.

        :param folder: the ``crm.mail.folder`` the messages come from
        :param list items: ``BatchItem`` (one per fetched message, or per message the
            provider's id showed stored already: ``known_email_id``, no body)
        :param reserve: called with the keys of the messages about to be created,
            between preparing and storing, by a sync run that reserves them (and may
            commit to renew its snapshot, see ``SyncRun.reserve``); it returns the
            keys another worker is storing: those messages are left out, ``deferred``
        :rtype: ImportBatch
        """
        batch = self._prepare(ImportBatch(folder=folder, items=list(items)))
        if reserve:
            busy = reserve(self._new_keys(batch))
            for item in batch.pending:
                item.deferred = item.key in busy
        return self._import(batch)

    @api.model
    def _prepare(self, batch):
        """The steps that store nothing: parse, forgotten addresses, filters, known."""
        batch = self._parse(batch)
        batch = self._forget(batch)
        batch = self._filter(batch)
        return self._skip_known(batch)

    @api.model
    def _import(self, batch):
        """The steps that store: the emails, their links, cases and notifications.

        One bad message must not sink the batch: when storing it fails, the messages
        are stored one by one so that the culprit alone goes to the quarantine.
        """
        pending = batch.pending
        located = batch.located
        error = self._try_process(batch)
        if error is not None:
            _logger.info(
                "Batch from folder %s failed (%s); storing one by one", batch.folder.id, error
            )
            # What the failed attempt made was rolled back with its savepoint.
            batch.new_emails = self.env["crm.mail.email"]
            batch.locations = self.env["crm.mail.email.location"]
            for item in pending:
                item.email_id = None
            for item in pending + located:
                part = ImportBatch(folder=batch.folder, items=[item])
                error = self._try_process(part)
                if error is not None:
                    item.error = self.env._("Could not store: %s", error)
                    continue
                batch.new_emails |= part.new_emails
                batch.locations |= part.locations
        return self._put_aside(batch)

    @api.model
    def _try_process(self, batch):
        """Run the storing steps on ``batch`` in a savepoint.

        :return: the error that rolled them back, or None when they succeeded
        """
        try:
            with self.env.cr.savepoint():
                self._process(batch)
        except (PsycopgError, ValueError) as exc:
            if is_concurrency_error(exc):
                # Not a bad message: another worker stored one of them first, or the
                # batch met a serialization failure or deadlock. The sync run retries
                # the whole batch in a new transaction, which then finds the other
                # worker's email and only records this location; one by one would
                # quarantine it.
                raise
            return exc
        return None

    @api.model
    def _process(self, batch):
        """Store the pending messages, then link them, open cases and leads, notify
        followers.

        Linking, cases and leads take the new emails generation by generation
        (``_thread_generations``): an email answering another of the batch is linked
        once that one is, so the batch ends as if its messages had arrived one at a
        time (a reply follows its parent's records and case).
        """
        batch = self._store(batch)
        batch = self._thread(batch)
        new_emails, links = batch.new_emails, self.env["crm.mail.email.link"]
        for generation in self._thread_generations(new_emails):
            batch.new_emails = generation
            batch = self._link(batch)
            batch = self._open_cases(batch)
            batch = self._open_leads(batch)
            links |= batch.links
        batch.new_emails, batch.links = new_emails, links
        batch = self._start_reply_clocks(batch)
        return self._notify(batch)

    @api.model
    def _thread_generations(self, emails):
        """Split ``emails`` (in batch order) into groups to link one after the other:
        the first holds those answering no earlier email of the batch, the next those
        answering one of the first, and so on. Most batches are one group."""
        by_message_id, generations = {}, []
        for email in emails:
            parents = [
                by_message_id[ref] for ref in email._thread_references() if ref in by_message_id
            ]
            generation = 1 + max(parents) if parents else 0
            by_message_id.setdefault(email.message_id, generation)
            generations.append(generation)
        groups = [emails.browse() for _ in range(1 + max(generations, default=0))]
        for email, generation in zip(emails, generations, strict=True):
            groups[generation] |= email
        return [group for group in groups if group] or [emails]

    # ------------------------------------------------------------------
    # Parse
    # ------------------------------------------------------------------

    @api.model
    def _parse(self, batch):
        """Parse each message; mail older than a POP3 account's fetch-since date is
        skipped, mail that cannot be understood at all fails."""
        cap = max(batch.folder.account_id.max_attachment_size, 0) * 1024 * 1024
        for item in batch.pending:
            if item.parsed is not None:
                continue  # a deferred message, parsed with its batch
            try:
                self._parse_item(item, cap)
            except MessageParseError as exc:
                item.error = str(exc)
                continue
            if item.since and item.received and item.received < item.since:
                item.skip_reason = self.env._("Older than the account's fetch-since date")
        return batch

    @api.model
    def _parse_item(self, item, attachment_cap):
        """Hook: fill the parsed message, fingerprint, key and date of ``item``.

        :raise MessageParseError: when the message cannot be understood at all
        """
        if not item.raw:
            raise MessageParseError(self.env._("The server returned an empty message."))
        item.parsed = parse_message(item.raw, max_attachment_size=attachment_cap)
        item.received = item.internal_date or item.parsed.date
        item.fingerprint = content_fingerprint(item.raw)
        item.key = _clean(message_key(item.parsed.message_id, item.raw, item.fingerprint))[:998]
        return item

    @api.model
    def _forget(self, batch):
        """Skip mail from or to an address an administrator had forgotten (erasure)."""
        forgotten = self.env["crm.mail.erasure"]._forgotten_checker()
        for item in batch.pending:
            if forgotten(item.addresses):
                item.skip_reason = self.env._("From or to an address that was forgotten")
        return batch

    # ------------------------------------------------------------------
    # Filter
    # ------------------------------------------------------------------

    @api.model
    def _filter(self, batch):
        """Apply the filters (``crm.mail.filter``) and the excluded domains.

        Excluded domains are tested on the message's counterparts only: the database's
        own mailboxes and domains (``_internal_addresses``) are never whom a message is
        exchanged with, so listing one's own domain there does not turn every message
        of the mailbox private and unlinked.
        """
        account = batch.folder.account_id
        self.env["crm.mail.filter"]._filter_items(account, batch.pending)
        self._exclude_domains(account, batch.pending)
        return batch

    @api.model
    def _exclude_domains(self, account, items):
        excluded = account._get_excluded_domains()
        if not excluded:
            return items
        internal = self._internal_addresses()
        for item in items:
            counterparts = self._counterpart_addresses(item.addresses, internal)
            item.excluded = domain_excluded(counterparts, excluded)
        return items

    @api.model
    def _internal_addresses(self):
        """``(addresses, domains)`` that are the database's own: the mailboxes it
        fetches, and the domains of its companies, alias domains and mailboxes (free
        mail providers aside). Never a counterpart of an email."""
        # sudo: settings and every account, whoever runs the sync.
        accounts = self.env["crm.mail.account"].sudo().with_context(active_test=False).search([])
        addresses = {normalize_address(address) for address in accounts.mapped("email")}
        domains = set(self.env["mail.alias.domain"].sudo().search([]).mapped("name"))
        domains.update(
            normalize_address(email).rpartition("@")[2]
            for email in self.env["res.company"].sudo().search([]).mapped("email")
            if email
        )
        domains.update(
            address.rpartition("@")[2]
            for address in addresses
            if address and not is_freemail(address.rpartition("@")[2])
        )
        domains.discard("")
        return (
            {form for address in addresses if address for form in address_forms(address)},
            {name.lower() for name in domains if name},
        )

    @api.model
    def _counterpart_addresses(self, addresses, internal):
        """The addresses of an email that are not the database's own (see
        ``_internal_addresses``): whom the email is exchanged with."""
        own, domains = internal
        return [
            address
            for address in addresses
            if address
            and not any(is_own_address(form, own) for form in address_forms(address))
            and not domain_of(address) & domains
        ]

    @api.model
    def _skip_known(self, batch):
        """Drop the messages whose location in this folder is recorded already (a
        batch retried after a concurrent worker, a quarantine retry)."""
        items = batch.pending + batch.located
        uids = [item.uid for item in items if item.uid]
        uidls = [item.pop_uidl for item in items if item.pop_uidl]
        if not uids and not uidls:
            return batch
        self.env["crm.mail.email.location"].flush_model()
        # Each side on its own partial unique index: with "uid = ANY(...) OR pop_uidl =
        # ANY(...)" PostgreSQL read every location of the folder (65 ms a batch once
        # it held 60,000 messages).
        self.env.cr.execute(
            """SELECT uid, NULL FROM crm_mail_email_location
                WHERE folder_id = %s AND uid > 0 AND uid = ANY(%s)
                UNION ALL
               SELECT NULL, pop_uidl FROM crm_mail_email_location
                WHERE folder_id = %s AND pop_uidl IS NOT NULL AND pop_uidl = ANY(%s)""",
            (batch.folder.id, uids, batch.folder.id, uidls),
        )
        rows = self.env.cr.fetchall()
        # Without the empty values: an IMAP row's NULL UIDL must not match every IMAP
        # item (whose UIDL is None too), nor a POP3 row's UID every POP3 item.
        known_uids = {uid for uid, _uidl in rows if uid}
        known_uidls = {uidl for _uid, uidl in rows if uidl}
        # Not put aside: nothing is recorded for them, they are simply done.
        batch.items = [
            item
            for item in batch.items
            if not (item.is_pending or item.is_located)
            or (item.uid not in known_uids and item.pop_uidl not in known_uidls)
        ]
        return batch

    @api.model
    def _new_keys(self, batch):
        """The keys of the pending messages that are not stored yet."""
        existing = self._find_existing(batch.pending, batch.folder)
        return sorted({item.key for item in batch.pending if item.ident not in existing})

    # ------------------------------------------------------------------
    # Store
    # ------------------------------------------------------------------

    @api.model
    def _store(self, batch):
        """Create the new emails and the locations of the pending messages, in bulk;
        the messages stored already (``batch.located``) only gain their location."""
        Email = self.env["crm.mail.email"]
        Location = self.env["crm.mail.email.location"]
        items = batch.pending
        located = batch.located
        batch.new_emails, batch.locations = Email, Location
        if not items and not located:
            return batch
        folder = batch.folder
        existing = self._find_existing(items, folder) if items else {}
        to_create, new_idents = [], []
        for item in items:
            if item.ident in existing or item.ident in new_idents:
                continue
            new_idents.append(item.ident)
            to_create.append(self._prepare_email_values(folder, item))
        self._set_address_users(to_create)
        gained = self._thread_values(to_create)
        batch.new_emails = Email.create(to_create) if to_create else Email
        # The emails are stored: the conversations they joined may have a newer date.
        self.env["crm.mail.conversation"]._crm_mail_update_last_date(gained)
        existing.update(zip(new_idents, batch.new_emails.ids, strict=True))
        for item in items:
            item.email_id = existing[item.ident]
        for item in located:
            item.email_id = item.known_email_id
        batch.locations = Location.create(
            [self._prepare_location_values(folder, item, item.email_id) for item in items + located]
        )
        for item in items:
            if item.quarantine:
                item.quarantine.write({"state": "imported", "email_id": item.email_id})
        return batch

    @api.model
    def _find_existing(self, items, folder=None, company=None):
        """Map (key, fingerprint) to the ids of emails already stored, in one query.

        Two messages are the same email when both their Message-ID and fingerprint
        match, within one company: mailboxes of two companies holding the same message
        store it once each, so that each company's users see their own copy only. One
        exception: the copy of mail sent from Odoo that the provider filed in the
        mailbox's Sent folder is the email sent, even when the provider rewrote some of
        it (only that mailbox's Sent folder holds such a copy).

        :param company: the company whose emails count (default: the folder's
            mailbox's)
        """
        # Read before the query below: an ORM read in between would run a query of its
        # own on the cursor and replace the rows about to be fetched.
        account_id = folder.account_id.id if folder and folder.is_sent else None
        if company is None and folder:
            company = folder.account_id.company_id
        company_id = company.id if company else None
        self.env["crm.mail.email"].flush_model(
            ["message_id", "fingerprint", "sent_account_id", "company_id"]
        )
        # The same query as in a single-company database (the Message-ID index); the
        # company is told apart on the few rows it returns.
        self.env.cr.execute(
            """SELECT message_id, fingerprint, id, sent_account_id, company_id
                 FROM crm_mail_email WHERE message_id = ANY(%s)""",
            ([item.key for item in items],),
        )
        found, sent_here = {}, {}
        for key, fp, email_id, sent_account_id, email_company_id in self.env.cr.fetchall():
            if company_id and email_company_id != company_id:
                continue
            found[(key, fp)] = email_id
            if account_id and sent_account_id == account_id:
                sent_here[key] = email_id
        for item in items:
            if item.ident not in found and item.key in sent_here:
                found[item.ident] = sent_here[item.key]
        return found

    @api.model
    def _prepare_body_html(self, parsed):
        """Hook: the stored HTML body, sanitised once; a body the parser built from plain
        text is already in the sanitizer's form (``lib.mime.body.text_to_html``) and
        skips it: the sanitizer was the costliest step of importing such mail."""
        if parsed.body_html_is_safe:
            # The sanitizer's quote marks (signatures), which it would add itself.
            marked = mark_text_quotes(parsed.body_html)
            if marked is not None:
                return SanitizedHtml(_clean(marked))
        Email = self.env["crm.mail.email"]
        return Email._fields["body_html"].presanitize(_clean(parsed.body_html), Email)

    @api.model
    def _prepare_email_values(self, folder, item):
        """Hook: return the ``create`` values of a new email."""
        parsed = item.parsed
        account = folder.account_id
        date = parsed.date or item.received or fields.Datetime.now()
        outcome = item.filter
        # Gmail's \Sent label says so wherever the message was first seen (All Mail).
        direction = "outgoing" if item.is_sent_label else self._get_direction(folder, parsed)
        return {
            "message_id": item.key,
            "fingerprint": item.fingerprint,
            # The mailbox's company, not the user's running the sync (the scheduled
            # action runs as superuser over every company's mailboxes).
            "company_id": account.company_id.id,
            "subject": _clean(parsed.subject),
            "email_from": _clean(parsed.email_from),
            "from_address": _clean(parsed.from_address),
            "email_to": _clean(parsed.email_to),
            "email_cc": _clean(parsed.email_cc),
            "reply_to": _clean(parsed.reply_to),
            "recipient_addresses": _clean(",".join(parsed.recipients)),
            "date": date,
            "in_reply_to": _clean(parsed.in_reply_to)[:998] or False,
            "references": _clean(" ".join(parsed.references)) or False,
            "body_html": self._prepare_body_html(parsed),
            "body_text": _clean(parsed.body_text),
            "direction": direction,
            "import_mode": self._get_import_mode(account, item.received or date),
            "is_auto_submitted": parsed.is_auto_submitted,
            "no_auto_reply_reason": auto_reply_blocker(parsed) or False,
            "size": parsed.size,
            "parse_warnings": _clean("\n".join(parsed.warnings)) or False,
            "has_attachments": any(not att.inline for att in parsed.attachments),
            "team_ids": [Command.set(self._get_email_teams(folder, parsed, direction).ids)],
            # Mail to or from an excluded domain stays with its mailbox's owner.
            "is_private": account.private_mailbox or item.excluded,
            "no_link": outcome.no_link or item.excluded,
            "no_notify": outcome.no_notify,
            "is_marked_read": outcome.mark_read,
            "inbox_folder_id": outcome.folder_id or False,
            "attachment_ids": [
                Command.create(
                    {
                        **self._prepare_attachment_values(attachment),
                        "company_id": account.company_id.id,
                    }
                )
                for attachment in parsed.attachments
                if not attachment.truncated
            ],
            **outcome.values,
        }

    @api.model
    def _get_email_teams(self, folder, parsed, direction=None):
        """Hook: teams a new email is assigned to (a group mailbox's, for incoming mail).

        :param direction: the email's direction, when the caller knows it already
        """
        account = folder.account_id
        if account.account_type != "group":
            return self.env["crm.team"]
        if (direction or self._get_direction(folder, parsed)) != "incoming":
            return self.env["crm.team"]
        return account.team_ids

    @api.model
    def _get_direction(self, folder, parsed):
        """Hook: Sent-folder mail and mail from the account's own address (with or
        without a plus tag) is outgoing."""
        own = normalize_address(folder.account_id.email or "")
        if folder.is_sent or (own and is_own_address(parsed.from_address, {own})):
            return "outgoing"
        return "incoming"

    @api.model
    def _get_import_mode(self, account, received):
        """Hook: mail the server had before the account went live is archive mail."""
        live_since = account.live_since
        if not live_since or not received:
            return "live"
        if received.tzinfo:
            received = received.astimezone(timezone.utc).replace(tzinfo=None)
        return "archive" if received < live_since else "live"

    @api.model
    def _prepare_attachment_values(self, attachment):
        return {
            "name": _clean(attachment.name) or self.env._("attachment"),
            "raw": attachment.content,
            "mimetype": attachment.mimetype,
            "res_model": "crm.mail.email",
        }

    @api.model
    def _set_address_users(self, vals_list):
        """Fill ``address_user_ids`` of new emails (the Own level), one query a batch."""
        addresses_of = []
        for vals in vals_list:
            addresses_of.append(
                set(address_list(vals.get("from_address"), vals.get("recipient_addresses")))
            )
        every = set().union(*addresses_of) if addresses_of else set()
        if not every:
            return
        users_by_address = self.env["crm.mail.email"]._users_by_address(every)
        for vals, addresses in zip(vals_list, addresses_of, strict=True):
            user_ids = sorted(
                {uid for address in addresses for uid in users_by_address.get(address, ())}
            )
            if user_ids:
                vals["address_user_ids"] = [Command.set(user_ids)]

    @api.model
    def _prepare_location_values(self, folder, item, email_id):
        """Hook: the ``create`` values of where ``item`` was seen."""
        return {
            "email_id": email_id,
            "account_id": folder.account_id.id,
            "folder_id": folder.id,
            "uid": item.uid or False,
            "pop_uidl": item.pop_uidl or False,
            "server_flags": " ".join(item.flags or ()) or False,
            "provider_id": item.provider_id or False,
            "provider_labels": ", ".join(item.labels) or False,
        }

    @api.model
    def _thread_values(self, vals_list):
        """Hook: put the new emails into conversations (``crm.mail.conversation``)
        before ``_store`` creates them, their ``create`` values (``vals_list``) gaining
        ``conversation_id``; the whole batch at once.

        :return: the ids of the conversations stored before that gain emails (their
            ``last_date`` is updated once the emails are)
        """
        return self.env["crm.mail.email"]._crm_mail_thread_values(vals_list)

    @api.model
    def _thread(self, batch):
        """Put the new emails still in no conversation into one: ``_store`` threads
        the emails it creates (``_thread_values``), so this is for those an override
        left out; the step stays in the chain for modules hooking after threading."""
        batch.new_emails._crm_mail_thread()
        return batch

    # ------------------------------------------------------------------
    # Link, cases, notify
    # ------------------------------------------------------------------

    @api.model
    def _link(self, batch):
        """Link the new emails to the records they concern (their chatter entries)."""
        linkable = batch.new_emails.filtered(lambda email: not email.no_link)
        batch.links = self.env["crm.mail.linking"]._link_emails(linkable, notify=False)
        return batch

    @api.model
    def _open_cases(self, batch):
        """Attach the new emails to their case, or open one for a conversation's first."""
        linkable = batch.new_emails.filtered(lambda email: not email.no_link)
        batch.links |= self.env["crm.mail.case"]._process_emails(linkable)
        return batch

    @api.model
    def _open_leads(self, batch):
        """Open a lead or opportunity for a conversation's first email in a lead
        mailbox (its later emails joined it when linked)."""
        linkable = batch.new_emails.filtered(lambda email: not email.no_link)
        batch.links |= self.env["crm.lead"]._crm_mail_process_emails(linkable)
        return batch

    @api.model
    def _start_reply_clocks(self, batch):
        """Reply-time alerts: new live customer mail in a case or lead of a mailbox with
        the alert on starts its clock; new outgoing mail stops the clocks of the mail
        it answers. A mailbox without the alert pays one look at a small index for a
        batch with outgoing mail, nothing otherwise."""
        account = batch.folder.account_id
        if account.reply_alert and account.account_type == "group":
            batch.new_emails._start_reply_clocks(account)
        batch.new_emails._stop_reply_clocks()
        return batch

    @api.model
    def _notify(self, batch):
        """Tell the followers, once for the whole batch: a follower of several of an
        email's records (a contact, its lead, its case) hears of it once."""
        batch.links._notify_followers()
        return batch

    # ------------------------------------------------------------------
    # Put aside
    # ------------------------------------------------------------------

    @api.model
    def _put_aside(self, batch):
        """Remember what was skipped on purpose; quarantine what failed."""
        self._record_skipped(batch.folder, batch.skipped)
        self._quarantine(batch.folder, batch.failed)
        return batch

    @api.model
    def _record_skipped(self, folder, items):
        """Remember deliberately skipped messages so they are not fetched again (POP3:
        IMAP remembers them through the folder's last UID)."""
        vals = [
            {
                "account_id": folder.account_id.id,
                "folder_id": folder.id,
                "uid": item.uid or False,
                "pop_uidl": item.pop_uidl or False,
                "skip_reason": item.skip_reason,
            }
            for item in items
            if item.pop_uidl
        ]
        if vals:
            self.env["crm.mail.email.location"].create(vals)

    @api.model
    def _quarantine(self, folder, items):
        """Keep messages that could not be imported, raw, for an administrator."""
        if not items:
            return
        vals = []
        for item in items:
            _logger.warning(
                "Mail account %s, folder %s: message %s quarantined: %s",
                folder.account_id.id,
                folder.id,
                item.uid or item.pop_uidl,
                item.error,
            )
            if item.known_email_id:
                # Stored already, body never downloaded: only this location is missing.
                continue
            if item.quarantine:
                item.quarantine.error = item.error
                continue
            raw = item.raw or b""
            vals.append(
                {
                    "account_id": folder.account_id.id,
                    "folder_id": folder.id,
                    "uid": item.uid or False,
                    "pop_uidl": item.pop_uidl or False,
                    "error": item.error,
                    "raw_message": base64.b64encode(raw),
                    "raw_size": len(raw),
                }
            )
        # sudo: the quarantine is an administrators' model; any user syncing their
        # own mailbox must still be able to put a message aside.
        self.env["crm.mail.quarantine"].sudo().create(vals)

    # ------------------------------------------------------------------
    # Mail sent from Odoo
    # ------------------------------------------------------------------

    @api.model
    def _archive_sent(self, account, raw, values):
        """Store a message sent from ``account`` as an outgoing email.

        It goes through the same steps as synced mail, so that its Message-ID and
        fingerprint are the ones the Sent folder's copy will have: the sync then finds
        it stored already.

        :param bytes raw: the message as sent (with its Bcc header)
        :param dict values: extra values (sender, private flag...)
        """
        sent_folder = account._get_sent_folder()
        folder = sent_folder or self.env["crm.mail.folder"].new(
            {"account_id": account.id, "is_sent": True}
        )
        item = BatchItem(raw=raw)
        cap = max(account.max_attachment_size, 0) * 1024 * 1024
        self._parse_item(item, cap)
        self._exclude_domains(account, [item])
        existing = self._find_existing([item], sent_folder, company=account.company_id)
        if existing:
            return self.env["crm.mail.email"].browse(next(iter(existing.values())))
        vals = self._prepare_email_values(folder, item)
        vals.update(values, sent_account_id=account.id, direction="outgoing", import_mode="live")
        if values.get("is_private"):
            vals["is_private"] = True
        self._set_address_users([vals])
        email = self.env["crm.mail.email"].create(vals)
        email._crm_mail_thread()
        return email
