from . import crm_mail_account
