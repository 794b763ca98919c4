# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Linking: which records an email concerns, and its entry in their chatter.

An email is linked to a record when it answers that record's conversation (a thread
reference from one of its participants, or the token of mail sent from it, in its
references or in the plus-address it is sent to), names a record (a case in its
subject, ``sales+lead42@`` from one of its participants), or carries an address the
record's model matches. Linkable models declare themselves by inheriting
``crm.mail.linked.mixin`` and answering ``_crm_mail_match_addresses``; each link gets
one chatter entry that only points at the email (see mail.message).
"""

import socket
from collections import defaultdict
from email.utils import getaddresses

from odoo import api, models, tools
from odoo.tools import SQL, formataddr

from ..lib import plus_address
from ..lib.addresses import address_forms, normalize_address, split_plus
from ..lib.thread_token import make_message_id, read_message_id
from .crm_mail_case import CASE_REFERENCE


def linkable_models_selection(model):
    """The linkable models as a selection, for the Reference fields of any model."""
    return model.env["crm.mail.linking"]._selection_linkable_models()


class CrmMailLinking(models.AbstractModel):
    _name = "crm.mail.linking"
    _description = "Linking of Synced Emails to Records"

    @api.model
    def _get_linkable_models(self):
        """The models an email can be linked to (and shown in the chatter of): every
        model that inherits ``crm.mail.linked.mixin``, as res.partner, crm.lead and
        crm.mail.case do. A module adds one by inheriting the mixin."""
        return list(self._linkable_models())

    @tools.ormcache()
    def _linkable_models(self):
        mixin = self.env.registry["crm.mail.linked.mixin"]
        return tuple(
            sorted(
                name
                for name, model in self.env.registry.items()
                if not model._abstract and not model._transient and issubclass(model, mixin)
            )
        )

    @api.model
    def _selection_linkable_models(self):
        """(model, name) pairs of the linkable models, for Reference fields."""
        models = self._get_linkable_models()
        return [(model, self.env["ir.model"]._get(model).name) for model in models]

    @api.model
    def _link_emails(self, emails, notify=True, extra_targets=None):
        """Link ``emails`` to the records they concern, in bulk, and post them.

        :param dict extra_targets: email id -> {(model, record id): reason}, records
            known to the caller (e.g. the one an email was written from), added to
            those found; a record found already keeps its reason
        """
        if not emails:
            return self.env["crm.mail.email.link"]
        targets = self._find_link_targets(emails)
        for email_id, extra in (extra_targets or {}).items():
            for target, reason in extra.items():
                targets[email_id].setdefault(target, reason)
        return self._create_links(emails, targets, notify=notify)

    @api.model
    def _find_link_targets(self, emails):
        """Return, per email id, the records it concerns and why.

        Inheriting modules add targets by extending the result.

        :return: dict ``{email_id: {(res_model, res_id): reason}}``, first reason wins
        """
        targets = defaultdict(dict)
        self._find_thread_targets(emails, targets)
        self._find_plus_address_targets(emails, targets)
        self._find_reference_targets(emails, targets)
        self._find_address_targets(emails, targets)
        self._drop_other_company_targets(emails, targets)
        return targets

    @api.model
    def _drop_other_company_targets(self, emails, targets):
        """An email is linked only to records of its own company, or of none: a reply
        that reaches another company's mailbox does not join the first company's
        lead or case (whose users could not read it), and mail of one company does not
        land in the chatter of another's contacts.

        One query for the batch in a single-company database, one per linked model
        otherwise."""
        if not targets:
            return targets
        # sudo: which companies exist, whoever runs the sync.
        if self.env["res.company"].sudo().search_count([], limit=2) < 2:
            return targets
        company_of = {email.id: email.company_id.id for email in emails}
        ids_by_model = defaultdict(set)
        for found in targets.values():
            for model, res_id in found:
                if "company_id" in self.env[model]._fields:
                    ids_by_model[model].add(res_id)
        record_company = {}
        for model, ids in ids_by_model.items():
            # sudo: the companies of the records found, whatever the user may read.
            records = self.env[model].sudo().with_context(active_test=False).browse(ids)
            for record in records.exists():
                record_company[(model, record.id)] = record.company_id.id
        for email_id, found in targets.items():
            for target in list(found):
                company_id = record_company.get(target)
                if company_id and company_id != company_of.get(email_id):
                    del found[target]
        return targets

    @api.model
    def _find_thread_targets(self, emails, targets):
        """Replies follow the records of the messages they answer, when they may.

        A reference joins a record's conversation when it is the token Message-ID of
        mail this database sent about that record (see ``_token_message_id_for``), or
        when it names a message that record received or sent and the reply's sender
        takes part in the record's conversation (``_filter_participants``). Knowing a
        Message-ID is not enough: any other reference is written down on the email
        (``routing_note``), and in a case mailbox the email opens a case of its own.
        """
        refs_by_email = {email.id: email._thread_references() for email in emails}
        all_refs = sorted(set().union(*refs_by_email.values())) if refs_by_email else []
        if not all_refs:
            return
        tokens = self._read_token_message_ids(all_refs)
        by_ref = self._records_of_message_ids([ref for ref in all_refs if ref not in tokens])
        candidates = defaultdict(set)
        for email in emails:
            for ref in refs_by_email[email.id]:
                if ref in tokens:
                    targets[email.id].setdefault(tokens[ref], "thread")
                else:
                    candidates[email.id].update(by_ref.get(ref, ()))
        if not candidates:
            return
        sender = {email.id: email.from_address for email in emails}
        allowed = self._filter_participants(
            {
                (target, sender[email_id])
                for email_id, found in candidates.items()
                for target in found
            }
        )
        refused = defaultdict(list)
        for email_id, found in candidates.items():
            for target in sorted(found):
                if (target, sender[email_id]) in allowed:
                    targets[email_id].setdefault(target, "thread")
                elif target not in targets[email_id]:
                    refused[email_id].append(target)
        self._note_refused_threads(emails, refused)

    # ------------------------------------------------------------------
    # Plus-addresses: sales+lead42@, support+case17-<token>@
    # ------------------------------------------------------------------

    @api.model
    def _plus_address_prefixes(self):
        """Hook: the prefix naming each linkable model in a plus-address tag
        (``sales+lead42@``): ``{prefix: model}``. Lowercase letters only; a model
        without one gets no plus-address."""
        prefixes = {"lead": "crm.lead", "case": "crm.mail.case", "partner": "res.partner"}
        linkable = set(self._get_linkable_models())
        return {prefix: model for prefix, model in prefixes.items() if model in linkable}

    @api.model
    def _find_plus_address_targets(self, emails, targets):
        """Mail sent to one of its mailboxes' addresses with a plus tag naming a record.

        A signed tag (``support+case17-<token>@``, the Reply-To of mail sent about the
        record, see ``_plus_reply_to``) joins the record like a token Message-ID
        (reason "thread"). A readable one (``sales+lead42@``) joins it, as a reference
        (reason "reference"), only when the sender takes part in the record's
        conversation (``_filter_participants``); otherwise, and for a wrong token, a
        routing note says why not. Tags on other addresses than the mailboxes' own
        (another domain, another mailbox) are not read. One query per model.
        """
        key = self._thread_token_key()
        prefixes = self._plus_address_prefixes()
        own_by_accounts = {}
        found = defaultdict(list)  # email id -> [(address, (model, id), kind)]
        for email in emails:
            accounts = email.account_ids
            key_accounts = tuple(accounts.ids)
            if key_accounts not in own_by_accounts:
                own_by_accounts[key_accounts] = {
                    form for address in accounts._own_addresses() for form in address_forms(address)
                }
            own = own_by_accounts[key_accounts]
            for address in (email.recipient_addresses or "").split(","):
                base, tag = split_plus(address)
                if not tag or base not in own:
                    continue
                read = plus_address.read_tag(key, tag)
                if read and read[0] in prefixes:
                    found[email.id].append((address, (prefixes[read[0]], read[1]), read[2]))
        if not found:
            return targets
        ids_by_model = defaultdict(set)
        for entries in found.values():
            for _address, (model, res_id), _kind in entries:
                ids_by_model[model].add(res_id)
        existing = {
            (model, record_id)
            for model, ids in ids_by_model.items()
            for record_id in self.env[model].sudo().browse(ids).exists().ids
        }
        sender = {email.id: email.from_address for email in emails}
        allowed = self._filter_participants(
            {
                (target, sender[email_id])
                for email_id, entries in found.items()
                for _address, target, kind in entries
                if kind == plus_address.READABLE and target in existing
            }
        )
        refused, forged = defaultdict(list), defaultdict(list)
        for email_id, entries in found.items():
            for address, target, kind in entries:
                if target not in existing:
                    continue
                if kind == plus_address.SIGNED:
                    targets[email_id].setdefault(target, "thread")
                elif kind == plus_address.FORGED:
                    forged[email_id].append(address)
                elif (target, sender[email_id]) in allowed:
                    targets[email_id].setdefault(target, "reference")
                elif target not in targets[email_id]:
                    refused[email_id].append(target)
        self._note_refused_threads(emails, refused)
        self._note_forged_plus_addresses(emails, forged)
        return targets

    @api.model
    def _note_forged_plus_addresses(self, emails, forged):
        """Write on each email the plus-addresses whose token is wrong."""
        for email in emails.filtered(lambda email: email.id in forged):
            notes = [
                self.env._(
                    "Sent to %(address)s, whose token is not valid: not joined to a record.",
                    address=address,
                )
                for address in forged[email.id]
            ]
            email.routing_note = "\n".join(filter(None, [email.routing_note, *notes]))

    @api.model
    def _plus_tag_for(self, model, res_id):
        """The signed plus tag of a record (``case17-<token>``), or None for a model
        without a prefix (``_plus_address_prefixes``)."""
        prefix = {model: prefix for prefix, model in self._plus_address_prefixes().items()}.get(
            model
        )
        if not prefix or not res_id:
            return None
        return plus_address.make_tag(self._thread_token_key(), prefix, res_id)

    @api.model
    def _plus_reply_to(self, reply_to, model, res_id, mailboxes=None):
        """``reply_to`` (a header value) with each synced mailbox in it given the
        signed plus tag of record ``model``/``res_id``: answers to it come back to the
        mailbox and join the record, whatever becomes of their subject and references.

        Only the mailboxes' own addresses get a tag (the replies must reach a synced
        mailbox); an address with a tag already is left alone.

        :param mailboxes: normalised addresses of the mailboxes (default: every
            account's), for a caller tagging many values
        """
        if not reply_to or not model or not res_id:
            return reply_to
        tag = self._plus_tag_for(model, res_id)
        if not tag:
            return reply_to
        if mailboxes is None:
            mailboxes = self._mailbox_addresses()
        parts = []
        changed = False
        for name, address in getaddresses([reply_to]):
            normalized = normalize_address(address)
            if normalized and normalized in mailboxes and not split_plus(normalized)[1]:
                local = address.rpartition("@")[0]
                domain = normalized.rpartition("@")[2]
                address = plus_address.plus_address(f"{local}@{domain}", tag)
                changed = True
            parts.append(formataddr((name, address)) if address else name)
        return ", ".join(parts) if changed else reply_to

    @api.model
    def _mailbox_addresses(self):
        """The normalised addresses of the mailboxes whose replies are tagged (their
        server takes plus addresses: ``crm.mail.account.plus_address_replies``)."""
        # sudo: which addresses are synced mailboxes is a system setting.
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .search([("email", "!=", False), ("plus_address_replies", "=", True)])
        )
        return {form for address in accounts._own_addresses() for form in address_forms(address)}

    @api.model
    def _records_of_message_ids(self, refs):
        """Map Message-IDs to the linkable records whose conversation holds them: an
        email linked to the record, or a message Odoo posted on it (one query each)."""
        by_ref = defaultdict(set)
        if not refs:
            return by_ref
        self.env["crm.mail.email.link"].flush_model()
        self.env["crm.mail.email"].flush_model(["message_id"])
        self.env.cr.execute(
            """SELECT e.message_id, l.res_model, l.res_id
                 FROM crm_mail_email_link l JOIN crm_mail_email e ON e.id = l.email_id
                WHERE e.message_id = ANY(%s)""",
            (refs,),
        )
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT message_id, model, res_id FROM mail_message
                WHERE message_id = ANY(%s) AND model = ANY(%s) AND res_id IS NOT NULL""",
            (refs, self._get_linkable_models()),
        )
        for ref, model, res_id in self.env.cr.fetchall():
            by_ref[ref].add((model, res_id))
        return by_ref

    @api.model
    def _note_refused_threads(self, emails, refused):
        """Write on each email the conversations it refers to but was not let into."""
        if not refused:
            return
        targets = {target for found in refused.values() for target in found}
        names = self._get_record_names(targets)
        for target in targets:
            names.setdefault(target, "%s #%s" % target)
        for email in emails.filtered(lambda email: email.id in refused):
            notes = [
                self.env._(
                    "Refers to the conversation of %(record)s, but %(sender)s takes no part "
                    "in it: not joined.",
                    record=names[target],
                    sender=email.from_address or self.env._("an unknown sender"),
                )
                for target in refused[email.id]
            ]
            email.routing_note = "\n".join(filter(None, [email.routing_note, *notes]))

    @api.model
    def _filter_participants(self, pairs):
        """The ``((model, res_id), address)`` pairs whose address takes part in the
        record's conversation: it sent or received an email linked to the record, or
        it is the record's own address, its customer's or a follower's
        (``_record_addresses``). One query for the emails, one per model for the rest.
        """
        pairs = {(target, address) for target, address in pairs if address}
        if not pairs:
            return set()
        self.env["crm.mail.email.link"].flush_model()
        self.env["crm.mail.email"].flush_model(["from_address", "recipient_addresses"])
        rows = SQL(", ").join(
            SQL("(%s, %s, %s, %s::text[])", model, res_id, address, list(address_forms(address)))
            for (model, res_id), address in pairs
        )
        self.env.cr.execute(
            SQL(
                """SELECT v.model, v.res_id, v.address
                     FROM (VALUES %s) AS v(model, res_id, address, forms)
                    WHERE EXISTS (
                        SELECT 1 FROM crm_mail_email_link l
                          JOIN crm_mail_email e ON e.id = l.email_id
                         WHERE l.res_model = v.model AND l.res_id = v.res_id AND %s)""",
                rows,
                self.env["crm.mail.email"]._address_condition(SQL("v.forms"), alias="e"),
            )
        )
        allowed = {((model, res_id), address) for model, res_id, address in self.env.cr.fetchall()}
        remaining = pairs - allowed
        ids_by_model = defaultdict(set)
        for (model, res_id), _address in remaining:
            ids_by_model[model].add(res_id)
        known = {}
        for model, ids in ids_by_model.items():
            known.update(self._record_addresses(model, ids))
        for target, address in remaining:
            if set(address_forms(address)) & known.get(target, set()):
                allowed.add((target, address))
        return allowed

    @api.model
    def _record_addresses(self, model, ids):
        """Hook: ``{(model, id): addresses}``, the addresses that take part in a record's
        conversation without an email of it: the record's own (``_crm_mail_address``),
        its customers' and its followers'."""
        # sudo: participants are decided by the sync, whoever runs it.
        records = self.env[model].sudo().browse(ids).exists()
        customers = records._mail_get_partners()
        result = {}
        for record in records:
            partners = customers.get(record.id, self.env["res.partner"])
            if "message_partner_ids" in record._fields:
                partners |= record.message_partner_ids
            addresses = {record._crm_mail_address()}
            addresses.update(partners.mapped("email_normalized"))
            result[(model, record.id)] = {
                form for address in addresses if address for form in address_forms(address)
            }
        return result

    @api.model
    def _find_reference_targets(self, emails, targets):
        """Cases named in the subject ([CASE-0042]), for mail from their participants.

        Knowing a case number is not enough: mail from anyone else starts a new case,
        so nobody can inject mail into somebody else's case.
        """
        refs = {email.id: CASE_REFERENCE.findall(email.subject or "") for email in emails}
        names = {name for found in refs.values() for name in found}
        if not names:
            return targets
        cases = self.env["crm.mail.case"].sudo().search([("name", "in", list(names))])
        by_name = {case.name: ("crm.mail.case", case.id) for case in cases}
        wanted = {
            (by_name[name], email.from_address)
            for email in emails
            for name in refs[email.id]
            if name in by_name
        }
        allowed = self._filter_participants(wanted)
        for email in emails:
            for name in refs[email.id]:
                target = by_name.get(name)
                if target and (target, email.from_address) in allowed:
                    targets[email.id].setdefault(target, "reference")
        return targets

    @api.model
    def _find_address_targets(self, emails, targets):
        """The records the addresses of the emails concern, as each linkable model
        declares them (``crm.mail.linked.mixin._crm_mail_match_addresses``): contacts
        and their company, open leads... The emails' own mailboxes are not counted."""
        # Emails of a batch share their mailboxes: their addresses are normalised once.
        own_by_accounts = {}
        addresses_by_email = {}
        for email in emails:
            accounts = email.account_ids
            key = tuple(accounts.ids)
            if key not in own_by_accounts:
                own_by_accounts[key] = accounts._own_addresses()
            addresses_by_email[email.id] = email._external_addresses(own_by_accounts[key])
        every = set().union(*addresses_by_email.values()) if addresses_by_email else set()
        if not every:
            return targets
        for model in self._get_linkable_models():
            matched = self.env[model]._crm_mail_match_addresses(every)
            if not matched:
                continue
            for email_id, addresses in addresses_by_email.items():
                found = targets[email_id]
                for address in sorted(addresses):
                    for record in matched.get(address, ()):
                        found.setdefault((model, record.id), "address")
        return targets

    @api.model
    def _thread_token_key(self):
        # A key of its own, derived from the database secret, for these tokens only.
        return tools.hmac(self.env(su=True), "crm_mail_sync.thread_token", "").encode()

    @api.model
    def _token_message_id_for(self, values, domain=None):
        """The Message-ID of new mail about a linkable record (a reply from a case, a
        note mailed to followers, an auto-reply, an email written from the record),
        carrying the token that lets answers to it join the record; None otherwise.

        :param dict values: ``model`` and ``res_id`` of the record (mail.message values)
        :param str domain: the right-hand side (default: the company's mail domain)
        """
        model, res_id = values.get("model"), values.get("res_id")
        if (
            not model
            or not res_id
            or values.get("crm_mail_email_id")
            or model not in self._get_linkable_models()
        ):
            return None
        return make_message_id(
            self._thread_token_key(), model, res_id, domain or self._token_domain()
        )

    @api.model
    def _is_token_of(self, message_id, values):
        """Whether ``message_id`` is the token Message-ID of the record of ``values``
        (``model``, ``res_id``): mail this database sends about that record."""
        if not message_id or not values.get("model") or not values.get("res_id"):
            return False
        target = read_message_id(self._thread_token_key(), message_id)
        return target == (values["model"], values["res_id"])

    @api.model
    def _token_domain(self):
        """The right-hand side of token Message-IDs: the company's mail domain."""
        # sudo: the alias domain is a system setting.
        alias_domain = self.env.company.sudo().alias_domain_id.name
        return alias_domain or socket.gethostname()

    @api.model
    def _read_token_message_ids(self, refs):
        """Map the references that are valid tokens to their (existing) record."""
        key = self._thread_token_key()
        linkable = set(self._get_linkable_models())
        found = {}
        for ref in refs:
            target = read_message_id(key, ref)
            if target and target[0] in linkable:
                found[ref] = target
        ids_by_model = defaultdict(set)
        for model, res_id in found.values():
            ids_by_model[model].add(res_id)
        existing = {
            (model, record_id)
            for model, ids in ids_by_model.items()
            for record_id in self.env[model].sudo().browse(ids).exists().ids
        }
        return {ref: target for ref, target in found.items() if target in existing}

    @api.model
    def _create_links(self, emails, targets, notify=True):
        """Create the links (skipping existing ones) and their chatter entries.

        Each link gets one entry in its record's chatter, which only points at the
        email (see mail.message). Mail that Odoo itself sent on the record (a reply
        from a case) has its message there already: the synced copy of it (from the
        Sent folder) takes that message as its entry instead of adding a second one.
        """
        Link = self.env["crm.mail.email.link"]
        existing = set()
        if emails:
            for link in Link.sudo().search([("email_id", "in", emails.ids)]):
                existing.add((link.email_id.id, link.res_model, link.res_id))
        pending = []
        for email in emails:
            for (model, res_id), reason in targets.get(email.id, {}).items():
                if (email.id, model, res_id) not in existing:
                    pending.append((email, model, res_id, reason))
                    existing.add((email.id, model, res_id))
        if not pending:
            return Link
        sent_by_odoo = self._odoo_messages_of(pending)
        to_post = [entry for entry in pending if entry[:3] not in sent_by_odoo]
        names = self._get_record_names({(model, res_id) for _e, model, res_id, _r in to_post})
        # sudo: the sync writes every record's chatter; the entries hold nothing but a
        # pointer to the email, whose own rules decide what each reader sees.
        messages = (
            self.env["mail.message"]
            .sudo()
            .create(
                [
                    self._prepare_chatter_values(email, model, res_id, names.get((model, res_id)))
                    for email, model, res_id, _reason in to_post
                ]
            )
        )
        message_of = dict(sent_by_odoo)
        message_of.update(
            {entry[:3]: message.id for entry, message in zip(to_post, messages, strict=True)}
        )
        links = Link.sudo().create(
            [
                {
                    "email_id": email.id,
                    "res_model": model,
                    "res_id": res_id,
                    "reason": reason,
                    "mail_message_id": message_of.get((email, model, res_id), False),
                }
                for email, model, res_id, reason in pending
            ]
        )
        if notify:
            links._notify_followers()
        return links

    @api.model
    def _odoo_messages_of(self, pending):
        """Map ``(email, model, res_id)`` of ``pending`` to the message Odoo posted on
        that record with the email's Message-ID, when Odoo sent the email itself."""
        message_ids = list({email.message_id for email, *_rest in pending})
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT message_id, model, res_id, MIN(id) FROM mail_message
                WHERE message_id = ANY(%s) AND crm_mail_email_id IS NULL
                  AND model IS NOT NULL AND res_id IS NOT NULL
             GROUP BY message_id, model, res_id""",
            (message_ids,),
        )
        posted = {(row[0], row[1], row[2]): row[3] for row in self.env.cr.fetchall()}
        return {
            (email, model, res_id): posted[(email.message_id, model, res_id)]
            for email, model, res_id, _reason in pending
            if (email.message_id, model, res_id) in posted
        }

    @api.model
    def _prepare_chatter_values(self, email, res_model, res_id, record_name=None):
        """Hook: the mail.message values of ``email``'s entry in a record's chatter.

        No subject, body, sender, recipients or files: the entry points at the email
        (``crm_mail_email_id``) and shows what the email's rules let each reader see.
        Its date is the email's; ``reply_to`` and ``record_name`` are given so that
        mail.message does not compute them one message at a time.
        """
        return {
            "model": res_model,
            "res_id": res_id,
            "message_type": "email",
            # An internal note: the synced email is history for the team; customers
            # following the record (portal) do not receive it again.
            "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
            "body": "",
            "author_id": False,
            "email_from": False,
            "reply_to": False,
            "record_name": record_name or False,
            "date": email.date,
            "crm_mail_email_id": email.id,
        }

    @api.model
    def _get_record_names(self, targets):
        """Map (model, id) to the record's display name, one query per model."""
        ids_by_model = defaultdict(list)
        for model, res_id in targets:
            ids_by_model[model].append(res_id)
        names = {}
        for model, ids in ids_by_model.items():
            # sudo: names for the chatter entries, written by the sync.
            records = self.env[model].sudo().browse(ids)
            for record in records:
                names[(model, record.id)] = record.display_name
        return names

    @api.model
    def _get_author_partners(self, emails):
        """Map sender addresses to a partner (either form of the address), in one query."""
        addresses = {email.from_address for email in emails if email.from_address}
        if not addresses:
            return {}
        form_of = {form: address for address in addresses for form in address_forms(address)}
        partners = self.env["res.partner"].search(
            [("email_normalized", "in", list(form_of))], order="id"
        )
        result = {}
        for partner in partners:
            result.setdefault(form_of[partner.email_normalized], partner)
        return result
