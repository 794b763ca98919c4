"""When not to answer an email automatically: now ``lib.mime.automatic``, kept here
until the models import it from ``lib.mime``."""

from .mime import auto_reply_blocker  # noqa: F401
