"""Settings of well-known mail providers: picking one fills the server fields.

``oauth`` names the account's authentication method (``crm.mail.account.auth_method``)
that a provider requires or recommends instead of a password; it is offered once the
bridge add-on that brings it is installed (``module``).
"""

PROVIDERS = {
    "gmail": {
        "name": "Gmail / Google Workspace",
        "imap": ("imap.gmail.com", 993, "ssl"),
        "smtp": ("smtp.gmail.com", 465, "ssl"),
        "files_sent": True,
        "oauth": "google",
        "oauth_module": "crm_mail_sync_google",
    },
    "outlook": {
        "name": "Outlook / Office 365",
        "imap": ("outlook.office365.com", 993, "ssl"),
        "smtp": ("smtp.office365.com", 587, "starttls"),
        "files_sent": True,
        "oauth": "microsoft",
        "oauth_module": "crm_mail_sync_microsoft",
    },
    "yahoo": {
        "name": "Yahoo Mail",
        "imap": ("imap.mail.yahoo.com", 993, "ssl"),
        "smtp": ("smtp.mail.yahoo.com", 465, "ssl"),
        "files_sent": True,
    },
    "zoho": {
        "name": "Zoho Mail",
        "imap": ("imap.zoho.com", 993, "ssl"),
        "smtp": ("smtp.zoho.com", 465, "ssl"),
        "files_sent": False,
    },
    "icloud": {
        "name": "iCloud Mail",
        "imap": ("imap.mail.me.com", 993, "ssl"),
        "smtp": ("smtp.mail.me.com", 587, "starttls"),
        "files_sent": True,
    },
    "fastmail": {
        "name": "Fastmail",
        "imap": ("imap.fastmail.com", 993, "ssl"),
        "smtp": ("smtp.fastmail.com", 465, "ssl"),
        "files_sent": False,
    },
}


def provider_selection():
    """(key, label) pairs for a selection field."""
    return [(key, value["name"]) for key, value in PROVIDERS.items()]
