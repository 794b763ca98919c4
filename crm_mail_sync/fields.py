# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Field types of this add-on."""

from odoo import fields


class SanitizedHtml:
    """HTML that ``SanitizeOnceHtml.presanitize`` has put through Odoo's sanitizer.

    A holder, not a string: it cannot come from a client (JSON has no such type)
    and string operations do not carry it over to HTML built from it.
    """

    __slots__ = ("html",)

    def __init__(self, html):
        self.html = html


class SanitizeOnceHtml(fields.Html):
    """An Html field that sanitises a value once, not once per use.

    When a record is created, Odoo's Html field sanitises each value twice, once
    for the database and once for the cache, and the sanitizer is the costliest
    step of importing an email. Code that stores many values passes them through
    ``presanitize`` first; anything else (a client, other code) is plain text and is
    sanitised as by the standard field.
    """

    def presanitize(self, value, record):
        """Return ``value`` sanitised with this field's options, marked as such."""
        return SanitizedHtml(super()._convert(value, record, validate=True))

    def _convert(self, value, record, validate):
        if isinstance(value, SanitizedHtml):
            return value.html
        return super()._convert(value, record, validate)
