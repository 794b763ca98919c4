from . import crm_mail_link_wizard
