"""Plain-Python building blocks of crm_mail_sync: no ORM, no database.

Only ``html_sanitizer`` imports Odoo (``odoo.tools.mail``, whose sanitizer it mirrors).
"""
