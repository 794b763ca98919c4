# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.1.0: the access rules were rewritten (one rule for an email's content, case
rules by level). Let this update rewrite the rules of the add-on, and drop the ones
that no longer exist, although rules.xml is loaded as noupdate."""


def migrate(cr, version):
    cr.execute(
        "UPDATE ir_model_data SET noupdate = false "
        "WHERE module = 'crm_mail_sync' AND model = 'ir.rule'"
    )
