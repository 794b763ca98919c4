from . import (
    test_access_levels,
    test_account_security,
    test_case_mail,
    test_cases,
    test_fingerprint,
    test_linking,
    test_mail_servers_lib,
    test_malformed_mail,
    test_mime_parser,
    test_sync_faults,
    test_sync_imap,
    test_sync_pop3,
)
