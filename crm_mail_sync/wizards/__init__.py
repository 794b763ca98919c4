from . import crm_mail_link_wizard
from . import mail_compose_message
from . import mail_compose_message_reply
from . import mail_compose_message_template
from . import mail_compose_message_attachment
from . import crm_mail_attachment_wizard
from . import crm_mail_forget_address_wizard
from . import crm_mail_lead_wizard
