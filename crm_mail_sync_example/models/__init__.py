from . import crm_mail_account, crm_mail_example_subscription, crm_mail_filter
