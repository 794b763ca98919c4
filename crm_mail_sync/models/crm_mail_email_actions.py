# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
# The model is split into files by concern on purpose (readme/ARCHITECTURE.md).
# pylint: disable=consider-merging-classes-inherited
"""What a user does with an email: reply, reply all, forward, link it by hand, make a
contact or company of its sender or an opportunity of its conversation, save its files
onto a record, fetch now."""

from email.utils import formataddr, getaddresses, parseaddr

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..lib import actions
from ..lib.addresses import is_own_address, normalize_address
from ..lib.freemail import is_freemail


def _split_addresses(text):
    """The addresses of a header value, each formatted as 'Name <address>'."""
    return [formataddr(pair) for pair in getaddresses([text or ""]) if pair[1]]


def _without(addresses, own):
    """``addresses`` minus those in ``own`` (normalised; with any plus tag: a reply-all
    to mail sent to sales+lead42@ is not sent back to the mailbox) and minus repeats."""
    seen, result = set(), []
    for address in addresses:
        normalized = normalize_address(parseaddr(address)[1])
        if normalized and normalized not in seen and not is_own_address(normalized, own):
            seen.add(normalized)
            result.append(address)
    return result


class CrmMailEmail(models.Model):
    _inherit = "crm.mail.email"

    @api.model
    def action_fetch_my_accounts(self):
        """Inbox button: fetch now the mailboxes of the current user."""
        Account = self.env["crm.mail.account"]
        accounts = Account.search(Account._owned_by_domain(self.env.user))
        if self.env.user.has_group("crm_mail_sync.group_crm_mail_manager"):
            accounts |= Account.search([("account_type", "=", "group")])
        if not accounts:
            raise UserError(
                self.env._("You have no mail account: add one under Configuration > Mail Accounts.")
            )
        return accounts.action_sync()

    def action_open_save_attachments(self):
        """Button: copy this email's attachments onto a record."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Save Attachments to a Record"),
            "res_model": "crm.mail.attachment.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_email_id": self.id},
        }

    def action_open_link_wizard(self):
        """Button: link these emails to a record picked by the user."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Link to..."),
            "res_model": "crm.mail.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_email_ids": [Command.set(self.ids)]},
        }

    def action_open_lead_wizard(self):
        """Button: create a lead or opportunity from these emails, one per conversation
        (or link their conversations to an existing one)."""
        if not self:
            raise UserError(self.env._("Select the emails to create opportunities from."))
        self.check_access("read")
        self.env["crm.lead"].check_access("create")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Create Opportunity"),
            "res_model": "crm.mail.lead.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_email_ids": [Command.set(self.ids)]},
        }

    def _sender_name_and_address(self):
        self.ensure_one()
        name, address = parseaddr(self.email_from or "")
        return name.strip() or address, normalize_address(address)

    def action_create_contact(self):
        """Button: create a contact from the sender and link the email to it."""
        self.ensure_one()
        name, address = self._sender_name_and_address()
        if not address:
            raise UserError(self.env._("This email has no sender address."))
        partner = self.env["res.partner"].search([("email_normalized", "=", address)], limit=1)
        if not partner:
            partner = self.env["res.partner"].create({"name": name, "email": address})
        self._link_by_hand(partner)
        return self._open(partner)

    def action_create_company(self):
        """Button: create a company from the sender's domain and link the email to it.

        An existing contact of that address without a company joins the new company.
        """
        self.ensure_one()
        _name, address = self._sender_name_and_address()
        if not address:
            raise UserError(self.env._("This email has no sender address."))
        domain = address.rpartition("@")[2]
        if is_freemail(domain):
            raise UserError(
                self.env._(
                    "%s is a free-mail provider: it does not tell the sender's company. "
                    "Create the company by hand.",
                    domain,
                )
            )
        company = self.env["res.partner"].create(
            {
                "name": domain.rsplit(".", 1)[0].replace("-", " ").title() or domain,
                "is_company": True,
                "website": domain,
            }
        )
        contacts = self.env["res.partner"].search(
            [
                ("email_normalized", "=", address),
                ("parent_id", "=", False),
                ("is_company", "=", False),
            ]
        )
        contacts.write({"parent_id": company.id})
        self._link_by_hand(company)
        return self._open(company)

    def action_reply(self):
        """Button: answer the sender, quoting this email."""
        return self._open_composer("reply")

    def action_reply_all(self):
        """Button: answer the sender and every other recipient, quoting this email."""
        return self._open_composer("reply_all")

    def action_forward(self):
        """Button: send this email, with its attachments, to someone else."""
        return self._open_composer("forward")

    def _open_composer(self, mode):
        self.ensure_one()
        self.check_access("read")
        if not self._get_reply_account():
            raise UserError(
                self.env._(
                    "You have no mailbox to send from: connect a personal mail account, "
                    "or ask an administrator to share a group mailbox with you."
                )
            )
        return actions.composer(self._get_composer_context(mode), self.env._("Write Email"))

    def _get_composer_context(self, mode):
        """Hook: ``default_*`` values of the compose wizard for a reply or a forward."""
        self.ensure_one()
        account = self._get_reply_account()
        own = (self.account_ids | account)._own_addresses()
        to, cc = [], []
        if mode in ("reply", "reply_all"):
            if self.direction == "outgoing":
                to = _split_addresses(self.email_to)
            else:
                to = _split_addresses(self.reply_to or self.email_from)
            if mode == "reply_all":
                if self.direction == "incoming":
                    to += _split_addresses(self.email_to)
                cc = _split_addresses(self.email_cc)
            to = _without(to, own) or to[:1]
            cc = _without(cc, own | {normalize_address(a) for a in to})
        return {
            "default_composition_mode": "comment",
            "default_model": self._name,
            "default_res_ids": self.ids,
            "default_crm_mail_account_id": account.id,
            "default_crm_mail_parent_email_id": self.id,
            "default_crm_mail_reply_mode": mode,
            "default_subject": self._reply_subject(mode),
            "default_body": self._quoted_body(mode),
            "default_crm_mail_email_to": ", ".join(to) or False,
            "default_crm_mail_email_cc": ", ".join(cc) or False,
            "default_crm_mail_record_attachment_ids": (
                self.attachment_ids.ids if mode == "forward" else []
            ),
        }

    def _get_reply_account(self):
        """The mailbox to answer from: one this email arrived in, if the user may send
        from it, else the user's own mailbox of an address the email was written to
        (mail to the user's second address in a group mailbox is answered from it),
        else the user's own."""
        sendable = self.env["crm.mail.account"]._get_sendable_accounts()
        for account in self.account_ids:
            if account in sendable:
                return account
        addresses = self._addresses()
        for account in sendable._is_owned_by(self.env.user):
            if normalize_address(account.email) in addresses:
                return account
        return self.env["mail.compose.message"]._crm_mail_default_account()

    def _reply_subject(self, mode):
        subject = (self.subject or "").strip()
        if mode == "forward":
            prefix = self.env._("Fwd:")
            known = ("fwd:", "fw:", prefix.lower())
        else:
            prefix = self.env._("Re:")
            known = ("re:", prefix.lower())
        if subject.lower().startswith(known):
            return subject
        return f"{prefix} {subject}".strip()

    def _quoted_body(self, mode):
        """The original, quoted below an empty first line for the answer."""
        date = fields.Datetime.to_string(self.date) if self.date else ""
        original = self.body_html or Markup("<pre>%s</pre>") % (self.body_text or "")
        if mode == "forward":
            header = Markup(
                "<p>---------- %s ----------<br/>%s: %s<br/>%s: %s<br/>%s: %s<br/>%s: %s</p>"
            ) % (
                self.env._("Forwarded message"),
                self.env._("From"),
                self.email_from or "",
                self.env._("Date"),
                date,
                self.env._("Subject"),
                self.subject or "",
                self.env._("To"),
                self.email_to or "",
            )
            return Markup("<p><br/></p>%s%s") % (header, original)
        intro = self.env._("On %(date)s, %(sender)s wrote:", date=date, sender=self.email_from)
        return Markup(
            '<p><br/></p><div data-o-mail-quote="1"><p>%s</p>'
            '<blockquote data-o-mail-quote="1">%s</blockquote></div>'
        ) % (intro, original)

    def _link_by_hand(self, record):
        self.check_access("read")
        record.check_access("read")
        self.env["crm.mail.linking"]._create_links(
            self, {self.id: {(record._name, record.id): "manual"}}, notify=False
        )

    def _open(self, record):
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "target": "current",
        }
