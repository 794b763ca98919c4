# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.5.0: every email belongs to a conversation. Thread the archive's emails
oldest first, in batches as the import does (a batch finds the conversations of the
batches before it)."""

from odoo import SUPERUSER_ID, api

BATCH = 2000


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    Email = env["crm.mail.email"]
    ids = Email.with_context(active_test=False)._search(
        [("conversation_id", "=", False)], order="date asc, id asc"
    )
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        Email.browse(ids[start : start + BATCH])._crm_mail_thread()
        env.invalidate_all()
