"""Former home of the MIME parser, now the package ``lib.mime``.

Kept until the models import ``lib.mime`` instead; it only re-exports the package's
public names, and is to be deleted then.
"""

# A star import, so that this stand-in can never drift from the package's interface.
from .mime import *  # noqa: F403
