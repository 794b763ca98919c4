# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Field types of this add-on."""

from odoo import fields

from .lib import html_sanitizer


class SanitizedHtml:
    """HTML that ``SanitizeOnceHtml.presanitize`` has sanitised as Odoo's sanitizer does.

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
        """Return ``value`` sanitised with this field's options, marked as such.

        The result is what Odoo's Html field would store, computed by
        ``lib.html_sanitizer`` (the same output as Odoo's sanitizer, faster).
        """
        return SanitizedHtml(self._presanitized(value, record))

    def _presanitized(self, value, record):
        # fields.Html._convert(value, record, validate=True) with the faster sanitizer.
        # Odoo's path stays for what the fast sanitizer does not mirror: values it does
        # not sanitise, fields some users may save unsanitised (that needs the record
        # and the user), and a sanitizer another module put in place of Odoo's in
        # odoo.fields, which _convert calls.
        if (
            value is None
            or value is False
            or not self.sanitize
            or self.sanitize_overridable
            or fields.html_sanitize is not html_sanitizer.odoo_html_sanitize
        ):
            return super()._convert(value, record, validate=True)
        return html_sanitizer.html_sanitize(
            value,
            silent=True,
            sanitize_tags=self.sanitize_tags,
            sanitize_attributes=self.sanitize_attributes,
            sanitize_style=self.sanitize_style,
            sanitize_form=self.sanitize_form,
            sanitize_conditional_comments=self.sanitize_conditional_comments,
            output_method=self.sanitize_output_method,
            strip_style=self.strip_style,
            strip_classes=self.strip_classes,
        )

    def _convert(self, value, record, validate):
        if isinstance(value, SanitizedHtml):
            return value.html
        return super()._convert(value, record, validate)
