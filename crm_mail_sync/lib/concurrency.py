# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Which database errors mean "another worker got there first; try again"."""

from psycopg2 import errors

# The unique key of crm.mail.email (model crm_mail_email, constraint
# message_fingerprint_unique): a second worker storing the same message while the
# first one has not committed yet waits for it, then meets this violation. The
# winner's email is invisible to the loser's snapshot until its next transaction.
EMAIL_KEY_CONSTRAINT = "crm_mail_email_message_fingerprint_unique"

RETRYABLE_ERRORS = (
    errors.SerializationFailure,
    errors.DeadlockDetected,
    errors.LockNotAvailable,
)


def is_concurrency_error(exc):
    """Return whether ``exc`` comes from a concurrent transaction, not from the data.

    Such an error says nothing about the message being stored: the batch is right
    and succeeds when run again in a new transaction, which sees what the other
    transaction committed.
    """
    if isinstance(exc, RETRYABLE_ERRORS):
        return True
    if isinstance(exc, errors.UniqueViolation):
        diag = getattr(exc, "diag", None)
        return getattr(diag, "constraint_name", None) == EMAIL_KEY_CONSTRAINT
    return False


class ClaimLost(Exception):
    """Another worker claimed the account between two batches of this run.

    Raised right after a commit, so the work done so far is kept; the run of this
    account stops there and the other worker goes on from the last committed batch.
    """
