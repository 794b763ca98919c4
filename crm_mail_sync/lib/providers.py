"""Settings of well-known mail providers: picking one fills the server fields."""

PROVIDERS = {
    "gmail": {
        "name": "Gmail / Google Workspace",
        "imap": ("imap.gmail.com", 993, "ssl"),
        "smtp": ("smtp.gmail.com", 465, "ssl"),
        "files_sent": True,
    },
    "outlook": {
        "name": "Outlook / Office 365",
        "imap": ("outlook.office365.com", 993, "ssl"),
        "smtp": ("smtp.office365.com", 587, "starttls"),
        "files_sent": True,
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
