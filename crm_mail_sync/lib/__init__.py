"""Plain-Python building blocks of crm_mail_sync: no Odoo import here."""
