#!/usr/bin/env python3
"""Generate an add-on's README.rst from its readme/*.md fragments, in OCA's layout.

OCA generates README.rst with ``oca-gen-addon-readme`` (OCA/maintainer-tools), which is
not published on PyPI. This is a small stand-in for Odoo 18.0 add-ons whose fragments
are Markdown: plain Python 3 standard library, no network.

    scripts/gen_addon_readme.py            # (re)write README.rst of every add-on here
    scripts/gen_addon_readme.py --check    # exit 1 when a README.rst is not up to date
    scripts/gen_addon_readme.py crm_mail_sync --stdout

Layout (OCA's template for 18.0): the manifest's name as title, the manifest's summary,
badges (development status, licence: static images, nothing is fetched), DESCRIPTION,
a table of contents, then one section per fragment present, in this order:
CONTEXT (Use Cases / Context), INSTALL (Installation), CONFIGURE (Configuration),
USAGE (Usage), EXTENDING (Extending), ARCHITECTURE (Architecture), DEVELOP
(Development), ROADMAP (Known issues / Roadmap), HISTORY (Changelog); Bug Tracker when
the manifest's website is a GitHub repository; Credits: Authors (manifest), Contributors
(CONTRIBUTORS), Other credits (CREDITS) and Maintainers (manifest ``maintainers``,
``website``) when there is something to say.

The Markdown these fragments use is converted to reStructuredText: paragraphs,
headings (``##`` -> ``~``, ``###`` -> ``^`` below the section's ``=``), ``*``/``-``/
``+`` bullets and numbered lists (``#.``) with continuation lines and nesting,
``**bold**``, ``*italic*``, ``` `code` ```, links, reference links, autolinks,
images (``![alt](../static/x.png)`` -> ``.. image:: static/x.png``), fenced code
blocks (``.. code-block:: lang``), pipe tables (``.. list-table::``) and block quotes.
Characters that reStructuredText would read as markup are escaped (md_to_rst.py for
the blocks, md_inline.py for the inline markup, beside this script). When docutils is
importable the result is also parsed, and warnings or errors fail the run.
"""

import argparse
import ast
import difflib
import io
import re
import sys
import textwrap
from pathlib import Path

try:  # optional: validates the result when available (it comes with Odoo)
    import docutils.core
except ImportError:
    docutils = None

# The Markdown converter is beside this file (md_to_rst.py, md_inline.py): importable
# when this is run as a script from any directory, or loaded from its path (the tests).
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    from md_to_rst import SUB_UNDERLINES, MarkdownConverter, _width
finally:
    del sys.path[0]

REPO_DIR = Path(__file__).resolve().parent.parent
FRAGMENTS_DIR = "readme"
GENERATOR = "scripts/gen_addon_readme.py"

# (fragment, section title), in the order of the generated README.
SECTIONS = (
    ("CONTEXT", "Use Cases / Context"),
    ("INSTALL", "Installation"),
    ("CONFIGURE", "Configuration"),
    ("USAGE", "Usage"),
    ("EXTENDING", "Extending"),
    ("ARCHITECTURE", "Architecture"),
    ("DEVELOP", "Development"),
    ("ROADMAP", "Known issues / Roadmap"),
    ("HISTORY", "Changelog"),
)
# Underlines: the title (over and under), sections, then headings inside a section
# and the Credits subsections (SUB_UNDERLINES, from md_to_rst.py).
SECTION_UNDERLINE = "="

LICENSE_BADGES = {
    "AGPL-3": (
        "https://img.shields.io/badge/licence-AGPL--3-blue.png",
        "http://www.gnu.org/licenses/agpl-3.0-standalone.html",
        "License: AGPL-3",
    ),
    "LGPL-3": (
        "https://img.shields.io/badge/licence-LGPL--3-blue.png",
        "http://www.gnu.org/licenses/lgpl-3.0-standalone.html",
        "License: LGPL-3",
    ),
    "GPL-3": (
        "https://img.shields.io/badge/licence-GPL--3-blue.png",
        "http://www.gnu.org/licenses/gpl-3.0-standalone.html",
        "License: GPL-3",
    ),
}
_STATUS_PAGE = "https://odoo-community.org/page/development-status"
DEVELOPMENT_STATUS_BADGES = {
    "mature": (
        "https://img.shields.io/badge/maturity-Mature-brightgreen.png",
        _STATUS_PAGE,
        "Mature",
    ),
    "production/stable": (
        "https://img.shields.io/badge/maturity-Production%2FStable-green.png",
        _STATUS_PAGE,
        "Production/Stable",
    ),
    "beta": ("https://img.shields.io/badge/maturity-Beta-yellow.png", _STATUS_PAGE, "Beta"),
    "alpha": ("https://img.shields.io/badge/maturity-Alpha-red.png", _STATUS_PAGE, "Alpha"),
}

GITHUB_REPO_RE = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)/?$")

# ---------------------------------------------------------------------------
# The README
# ---------------------------------------------------------------------------


def read_manifest(addon_dir):
    path = Path(addon_dir) / "__manifest__.py"
    return ast.literal_eval(path.read_text(encoding="utf-8"))


def read_fragments(addon_dir):
    fragments = {}
    fragments_dir = Path(addon_dir) / FRAGMENTS_DIR
    names = ["DESCRIPTION", *(name for name, _title in SECTIONS), "CONTRIBUTORS", "CREDITS"]
    for name in names:
        path = fragments_dir / (name + ".md")
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if text.strip():
                fragments[name] = text
    return fragments


def _title(text, char, overline=False):
    line = char * _width(text)
    return [line, text, line] if overline else [text, line]


def render_readme(addon_dir):
    """README.rst of the add-on in ``addon_dir``, as a string."""
    addon_dir = Path(addon_dir)
    manifest = read_manifest(addon_dir)
    fragments = read_fragments(addon_dir)
    if "DESCRIPTION" not in fragments:
        raise SystemExit("%s: no %s/DESCRIPTION.md" % (addon_dir, FRAGMENTS_DIR))
    converter = MarkdownConverter()

    def fragment(name, heading_depth=0):
        return converter.convert(fragments[name], heading_depth)

    name = manifest["name"]
    out = _title(name, "=", overline=True)
    out += [
        "",
        "..",
        "   !! This file is generated by %s from" % GENERATOR,
        "   !! %s/*.md and __manifest__.py: edit those, then run" % FRAGMENTS_DIR,
        "   !! scripts/gen-readme. Changes made here are overwritten.",
        "",
    ]

    badges = []
    status = (manifest.get("development_status") or "").lower()
    if status in DEVELOPMENT_STATUS_BADGES:
        badges.append(DEVELOPMENT_STATUS_BADGES[status])
    if manifest.get("license") in LICENSE_BADGES:
        badges.append(LICENSE_BADGES[manifest["license"]])
    for number, (image, target, alt) in enumerate(badges, 1):
        out += [
            ".. |badge%d| image:: %s" % (number, image),
            "    :target: %s" % target,
            "    :alt: %s" % alt,
        ]
    if badges:
        out += ["", " ".join("|badge%d|" % number for number in range(1, len(badges) + 1)), ""]

    summary = " ".join((manifest.get("summary") or "").split())
    if summary:
        summary = converter.inline(summary, {})
        out += textwrap.wrap(summary, 88, break_long_words=False, break_on_hyphens=False)
        out += [""]

    out += fragment("DESCRIPTION", None) + [""]
    if status == "alpha":
        out += [
            ".. IMPORTANT::",
            "   This is an alpha version, the data model and design can change at any time"
            " without warning.",
            "   Only for development or testing purpose, do not use in production.",
            "   `More details on development status <%s>`_" % _STATUS_PAGE,
            "",
        ]
    out += ["**Table of contents**", "", ".. contents::", "   :local:", ""]

    for name_, title in SECTIONS:
        if name_ in fragments:
            out += _title(title, SECTION_UNDERLINE) + [""] + fragment(name_) + [""]

    website = manifest.get("website") or ""
    github = GITHUB_REPO_RE.match(website)
    if github:
        out += _title("Bug Tracker", SECTION_UNDERLINE) + [
            "",
            "Bugs are tracked on `GitHub Issues <%s/issues>`_." % website.rstrip("/"),
            "In case of trouble, please check there if your issue has already been reported.",
            "",
        ]

    credit_lines = []
    authors = [
        author.strip()
        for author in (manifest.get("author") or "").split(",")
        if author.strip() and "(OCA)" not in author
    ]
    sub = SUB_UNDERLINES[0]
    if authors:
        credit_lines += _title("Authors", sub) + [""]
        credit_lines += ["* %s" % converter.inline(author, {}) for author in authors] + [""]
    if "CONTRIBUTORS" in fragments:
        credit_lines += _title("Contributors", sub) + [""] + fragment("CONTRIBUTORS", 1) + [""]
    if "CREDITS" in fragments:
        credit_lines += _title("Other credits", sub) + [""] + fragment("CREDITS", 1) + [""]
    maintainers = manifest.get("maintainers") or []
    if maintainers or website:
        credit_lines += _title("Maintainers", sub) + [""]
        if maintainers:
            for handle in maintainers:
                credit_lines += [
                    ".. |maintainer-%s| image:: https://github.com/%s.png?size=40px"
                    % (handle, handle),
                    "    :target: https://github.com/%s" % handle,
                    "    :alt: %s" % handle,
                ]
            credit_lines += [
                "",
                "Current maintainer%s:" % ("s" if len(maintainers) > 1 else ""),
                "",
                " ".join("|maintainer-%s|" % handle for handle in maintainers),
                "",
            ]
        if github:
            credit_lines += [
                "This module is part of the `%s/%s <%s>`_ project on GitHub."
                % (github.group(1), github.group(2), website.rstrip("/")),
                "",
                "You are welcome to contribute.",
                "",
            ]
        elif website:
            credit_lines += ["Project home: %s" % website, ""]
    if credit_lines:
        out += _title("Credits", SECTION_UNDERLINE) + [""] + credit_lines

    while out and not out[-1]:
        out.pop()
    return "\n".join(line.rstrip() for line in out) + "\n"


def rst_problems(text, source_path="README.rst"):
    """docutils' warnings and errors (level >= 2) for ``text``; None without docutils."""
    if docutils is None:
        return None
    stream = io.StringIO()
    docutils.core.publish_doctree(
        text,
        source_path=source_path,
        settings_overrides={
            "report_level": 2,
            "halt_level": 5,
            "warning_stream": stream,
            "file_insertion_enabled": False,
            "raw_enabled": False,
            "syntax_highlight": "none",
        },
    )
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def find_addons(root):
    for manifest in sorted(Path(root).glob("*/__manifest__.py")):
        if (manifest.parent / FRAGMENTS_DIR / "DESCRIPTION.md").is_file():
            yield manifest.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "addons",
        nargs="*",
        help="add-on directories (default: every add-on of the repository with readme/)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a README.rst differs from what would be generated",
    )
    parser.add_argument("--stdout", action="store_true", help="print the README instead")
    args = parser.parse_args(argv)
    addons = [Path(addon) for addon in args.addons] or list(find_addons(REPO_DIR))
    status = 0
    for addon_dir in addons:
        readme = addon_dir / "README.rst"
        text = render_readme(addon_dir)
        if args.stdout:
            sys.stdout.write(text)
            continue
        problems = rst_problems(text, str(readme))
        if problems:
            status = 1
            print("%s: the generated reStructuredText is not valid:" % readme, file=sys.stderr)
            for problem in problems:
                print("  " + problem, file=sys.stderr)
        current = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        if current == text:
            continue
        if args.check:
            status = 1
            print(
                "%s is not up to date with %s/ and the manifest: run scripts/gen-readme"
                % (readme, FRAGMENTS_DIR),
                file=sys.stderr,
            )
            sys.stderr.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    str(readme),
                    "%s (generated)" % readme,
                )
            )
        else:
            readme.write_text(text, encoding="utf-8")
            print("wrote %s" % readme)
    return status


if __name__ == "__main__":
    sys.exit(main())
