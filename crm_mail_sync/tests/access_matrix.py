# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Who may read an email: the matrix the access tests check and the README shows.

Plain Python (no Odoo import): ``scripts/who-sees-what`` prints ``render_table()``, and
a test checks that the README holds exactly that table, so the table, the tests and
the behaviour cannot drift apart.
"""

# The levels of the Emails category on the user form (none: an internal user without one).
LEVELS = {
    "none": "base.group_user",
    "own": "crm_mail_sync.group_crm_mail_user",
    "team": "crm_mail_sync.group_crm_mail_team",
    "all": "crm_mail_sync.group_crm_mail_all",
    "case_manager": "crm_mail_sync.group_crm_mail_case_manager",
    "admin": "crm_mail_sync.group_crm_mail_manager",
}
LEVEL_NAMES = {
    "none": "No level",
    "own": "Own",
    "team": "Team",
    "all": "All",
    "case_manager": "Case Manager",
    "admin": "Administrator",
}

# Kinds of email, from the point of view of one user.
KINDS = {
    "own_mailbox": "in one of the user's own mailboxes",
    "address_to": "with the user's address in To",
    "address_cc": "with the user's address in Cc",
    "assigned_case": "of a case assigned to the user",
    "team_email": "in a group mailbox of one of the user's teams",
    "other_team_email": "in a group mailbox of another team",
    "other_user_private": "private, in another user's mailbox",
    "other_company": "in a mailbox of a company not selected, even addressed to the user",
}

# The levels that read each kind of email: its subject, body, recipients and files.
READERS = {
    "own_mailbox": {"own", "team", "all", "case_manager", "admin"},
    "address_to": {"own", "team", "all", "case_manager", "admin"},
    "address_cc": {"own", "team", "all", "case_manager", "admin"},
    "assigned_case": {"own", "team", "all", "case_manager", "admin"},
    "team_email": {"team", "all", "case_manager", "admin"},
    "other_team_email": {"all", "case_manager", "admin"},
    "other_user_private": {"admin"},
    # Several companies: the company switcher comes before every level.
    "other_company": set(),
}

# Where the rule holds: each route is exercised by tests/test_content_access.py.
ROUTES = (
    "the archive (list, form, ORM reads)",
    "chatter entries on contacts, companies, leads and cases (ORM reads and the web "
    "client's chatter route /mail/thread/messages)",
    "attachments (downloads through /web/content)",
    "chatter search and searches on the records' messages",
    "exports",
    "read_group",
    "notifications to followers",
)


def render_table():
    """The README's "Who sees what" table, in Markdown."""
    levels = list(LEVELS)
    lines = [
        "| email | " + " | ".join(LEVEL_NAMES[level] for level in levels) + " |",
        "| --- |" + " --- |" * len(levels),
    ]
    for kind, label in KINDS.items():
        cells = ["reads" if level in READERS[kind] else "-" for level in levels]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())  # pylint: disable=print-used
