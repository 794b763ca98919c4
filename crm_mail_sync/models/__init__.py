from . import (
    crm_lead,
    crm_mail_account,
    crm_mail_email,
    crm_mail_email_link,
    crm_mail_email_location,
    crm_mail_folder,
    crm_mail_link_request,
    crm_mail_quarantine,
    res_partner,
)
