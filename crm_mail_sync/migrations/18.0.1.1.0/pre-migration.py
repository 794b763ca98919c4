# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.1.0: the access rules were rewritten (one rule for an email's content, case
rules by level) and are no longer loaded as noupdate: the add-on's rules follow its
code. Unflag the existing ones so that this update rewrites them and drops the ones
that no longer exist."""


def migrate(cr, version):
    cr.execute(
        "UPDATE ir_model_data SET noupdate = false "
        "WHERE module = 'crm_mail_sync' AND model = 'ir.rule'"
    )
