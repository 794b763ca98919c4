"""The batch of messages a sync run hands to the import chain, as typed objects.

The protocol fills a ``BatchItem`` per fetched message; each step of the import chain
(``crm.mail.gateway``: parse, filter, store, link, cases, notify) reads what the
steps before it filled and adds its own part. Nothing is rebuilt between steps.
"""

from dataclasses import dataclass, field
from datetime import datetime

from .filters import FilterOutcome


@dataclass(eq=False)
class BatchItem:
    """One fetched message on its way through the import chain."""

    raw: bytes
    # Where it was found: the IMAP UID in its folder, or the POP3 unique id.
    uid: int | None = None
    pop_uidl: str | None = None
    internal_date: datetime | None = None
    flags: tuple = ()
    # Mail received before this moment is skipped (POP3 cannot search by date).
    since: datetime | None = None
    # The provider's id of the message, the same in every folder (Gmail's X-GM-MSGID),
    # and its labels.
    provider_id: str | None = None
    labels: tuple = ()
    # The email this message is already, known by its provider's id before fetching:
    # its body was not downloaded, the import only records where it was seen.
    known_email_id: int | None = None
    # The quarantine entry this item retries, if any (an ORM record).
    quarantine: object = None
    # Filled by the parse step.
    parsed: object = None
    fingerprint: str = ""
    key: str = ""
    received: datetime | None = None
    # Filled by the filter step.
    filter: FilterOutcome = field(default_factory=FilterOutcome)
    excluded: bool = False
    # Another worker is storing the same new message right now: the sync run stores
    # this one after the rest of the batch (see ``SyncRun.import_batch``).
    deferred: bool = False
    # The outcome: put aside (skipped on purpose, or failed), or stored as this email.
    skip_reason: str | None = None
    error: str | None = None
    email_id: int | None = None

    @property
    def ident(self):
        """What makes two messages one email: the key and the content fingerprint."""
        return (self.key, self.fingerprint)

    @property
    def addresses(self):
        """The normalised addresses of From, To and Cc (after parsing)."""
        return self.parsed.addresses if self.parsed is not None else []

    @property
    def is_pending(self):
        """Still on its way: neither put aside nor failed, nor stored already, nor
        deferred."""
        return (
            self.skip_reason is None
            and self.error is None
            and self.known_email_id is None
            and not self.deferred
        )

    @property
    def is_located(self):
        """Stored already (``known_email_id``): only its location is to be recorded."""
        return self.known_email_id is not None and self.error is None

    @property
    def is_sent_label(self):
        """Whether the provider labels it as sent mail (Gmail's ``\\Sent`` label)."""
        return any(label.lower() == "\\sent" for label in self.labels)


@dataclass(eq=False)
class ImportBatch:
    """A folder's batch of fetched messages, and what the import made of it."""

    folder: object
    items: list
    # Filled by the store step: the emails created, the locations recorded.
    new_emails: object = None
    locations: object = None
    # Filled by the link and case steps: the links to notify followers of.
    links: object = None

    @property
    def pending(self):
        return [item for item in self.items if item.is_pending]

    @property
    def located(self):
        """The messages stored already, which only gain a location here."""
        return [item for item in self.items if item.is_located]

    @property
    def deferred(self):
        """The new messages left for after the rest of the batch (another worker
        is storing them)."""
        return [item for item in self.items if item.deferred]

    @property
    def skipped(self):
        return [item for item in self.items if item.skip_reason is not None]

    @property
    def failed(self):
        return [item for item in self.items if item.error is not None]

    @property
    def imported(self):
        """How many locations the batch recorded (emails imported for the account)."""
        return len(self.locations) if self.locations is not None else 0
