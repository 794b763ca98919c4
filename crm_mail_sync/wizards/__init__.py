from . import crm_mail_link_wizard
from . import mail_compose_message
from . import crm_mail_attachment_wizard
