# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The consent callback of mail accounts, shared by the OAuth bridges.

Odoo's callbacks (``/google_gmail/confirm``, ``/microsoft_outlook/confirm``) serve
system administrators only. A bridge subclasses Odoo's controller on the same URL, so
that the one redirect URL Odoo documents keeps working, and hands the answers whose
``state`` names a mail account to ``oauth_callback``; the others go to Odoo's code.
"""

import json
import logging
import re

from werkzeug.exceptions import Forbidden

from odoo.exceptions import AccessError
from odoo.http import request

_logger = logging.getLogger(__name__)

ACCOUNT_MODEL = "crm.mail.account"
CALLBACK_PATHS = ("/google_gmail/confirm", "/microsoft_outlook/confirm")
_CODE_PARAMETER = re.compile(r"([?&]code=)[^&\s\"]*")


class RedactConsentCode(logging.Filter):
    """The HTTP request log (werkzeug's) of a consent callback, without its
    authorization code: a one-time secret that is exchanged for the tokens."""

    def filter(self, record):
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            if any(path in args[0] for path in CALLBACK_PATHS):
                record.args = (_CODE_PARAMETER.sub(r"\1[redacted]", args[0]), *args[1:])
        return True


logging.getLogger("werkzeug").addFilter(RedactConsentCode())


def parse_state(state):
    """``(model, id, csrf_token)`` of a consent's ``state``, or None."""
    try:
        value = json.loads(state or "")
        return str(value["model"]), int(value["id"]), value.get("csrf_token")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def is_account_state(state):
    """Whether a consent's ``state`` names a mail account."""
    parsed = parse_state(state)
    return bool(parsed) and parsed[0] == ACCOUNT_MODEL


def oauth_callback(auth_method, state, code=None, error=None):
    """Store the consent of a mail account and open its form; 403 when the state's
    token is wrong or the current user may not edit the account."""
    _model, account_id, csrf_token = parse_state(state)
    try:
        account = request.env[ACCOUNT_MODEL]._oauth_receive_consent(
            auth_method, account_id, csrf_token, code=code, error=error
        )
    except AccessError:
        _logger.warning(
            "OAuth consent refused: user %s may not connect mail account id %s, or the "
            "state's token is wrong",
            request.env.uid,
            account_id,
        )
        raise Forbidden() from None
    return request.redirect(f"/odoo/{ACCOUNT_MODEL}/{account.id}")
