# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The French, Czech and Polish translations are complete and load into Odoo."""

import os

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import PoFileReader

I18N = os.path.join(os.path.dirname(os.path.dirname(__file__)), "i18n")
LANGUAGES = {
    "fr": ("fr_FR", "Boîte de réception"),
    "cs": ("cs_CZ", "Doručená pošta"),
    "pl": ("pl_PL", "Skrzynka odbiorcza"),
}


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestTranslations(TransactionCase):
    def test_every_term_of_the_template_is_translated(self):
        with open(os.path.join(I18N, "crm_mail_sync.pot"), "rb") as handle:
            template = {entry["src"] for entry in PoFileReader(handle)}
        self.assertGreater(len(template), 500)
        for lang in LANGUAGES:
            with open(os.path.join(I18N, f"{lang}.po"), "rb") as handle:
                entries = list(PoFileReader(handle))
            translated = {entry["src"] for entry in entries if entry["value"]}
            self.assertEqual(template - translated, set(), f"{lang}.po misses terms")

    def test_translations_load_into_the_menus(self):
        menu = self.env.ref("crm_mail_sync.menu_crm_mail_email")
        for lang, (code, inbox) in LANGUAGES.items():
            self.env["res.lang"]._activate_lang(code)
            self.env["ir.module.module"]._load_module_terms(["crm_mail_sync"], [code])
            self.assertEqual(menu.with_context(lang=code).name, inbox, lang)

    def test_error_advice_is_translated(self):
        """The advice is written once in lib/errors.py (marked _lt) and shown translated."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(["crm_mail_sync"], ["fr_FR"])
        account = self.env["crm.mail.account"].create(
            {
                "name": "advice",
                "account_type": "group",
                "email": "advice@crm-mail-sync.test",
                "host": "imap.crm-mail-sync.test",
                "login": "advice",
            }
        )
        account.last_error = "The server refused the login and password."
        self.assertIn("app password", account.last_error_advice)
        french = account.with_context(lang="fr_FR")
        french.invalidate_recordset(["last_error_advice"])
        self.assertIn("mot de passe d'application", french.last_error_advice)
