from . import (
    crm_mail_account,
    crm_mail_email,
    crm_mail_email_location,
    crm_mail_folder,
    crm_mail_quarantine,
)
