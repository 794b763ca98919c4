# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""README.rst is generated from readme/*.md and the manifest, and is valid reStructuredText.

The generator is the repository's scripts/gen_addon_readme.py (``scripts/gen-readme``
rewrites README.rst, ``--check`` is the pre-commit hook): a README.rst edited by hand,
or fragments changed without regenerating it, fail here.
"""

import difflib
import importlib.util
import io
import os
import unittest

import docutils.core
import docutils.nodes

from odoo.tests import BaseCase, tagged

ADDON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ADDON_DIR, "README.rst")
GENERATOR = os.path.join(os.path.dirname(ADDON_DIR), "scripts", "gen_addon_readme.py")


@tagged("post_install", "-at_install", "crm_mail_sync")
class TestReadme(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.path.isfile(GENERATOR):
            raise unittest.SkipTest("the add-on is outside its repository (no scripts/)")
        spec = importlib.util.spec_from_file_location("crm_mail_sync_gen_addon_readme", GENERATOR)
        cls.generator = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.generator)

    def test_readme_is_generated_from_the_fragments(self):
        expected = self.generator.render_readme(ADDON_DIR)
        with open(README, encoding="utf-8") as handle:
            current = handle.read()
        if current != expected:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "README.rst",
                    "README.rst (generated)",
                )
            )
            self.fail(f"README.rst is not up to date with readme/: run scripts/gen-readme\n{diff}")

    def test_readme_is_valid_restructuredtext(self):
        with open(README, encoding="utf-8") as handle:
            text = handle.read()
        stream = io.StringIO()
        doctree = docutils.core.publish_doctree(
            text,
            source_path=README,
            settings_overrides={
                "report_level": 2,  # warnings and errors
                "halt_level": 5,  # collect them all instead of stopping at the first
                "warning_stream": stream,
                "file_insertion_enabled": False,
                "raw_enabled": False,
                "syntax_highlight": "none",  # no Pygments needed for code blocks
            },
        )
        problems = [
            message.astext()
            for message in doctree.findall(docutils.nodes.system_message)
            if message["level"] >= 2
        ]
        self.assertFalse(problems or stream.getvalue(), stream.getvalue() or problems)
        # The sections the fragments give, in OCA's order.
        titles = [node.astext() for node in doctree.findall(docutils.nodes.title)]
        self.assertEqual(titles[0], "CRM Mail Sync")
        expected = ["Configuration", "Usage", "Known issues / Roadmap", "Credits"]
        self.assertEqual([title for title in titles if title in expected], expected)
