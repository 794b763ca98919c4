"""The client actions the add-on's buttons return, built in one place."""

SOFT_RELOAD = {"type": "ir.actions.client", "tag": "soft_reload"}
CLOSE_DIALOG = {"type": "ir.actions.act_window_close"}


def notification(message, kind="success", title=None, sticky=False, then=None):
    """A notification in the web client (``display_notification``).

    :param str kind: success, info, warning or danger
    :param dict then: the action run after it (``SOFT_RELOAD``, ``CLOSE_DIALOG``...)
    """
    params = {"type": kind, "message": message}
    if title:
        params["title"] = title
    if sticky:
        params["sticky"] = True
    if then:
        params["next"] = then
    return {"type": "ir.actions.client", "tag": "display_notification", "params": params}


def composer(context, name):
    """The compose wizard in a dialog, opened with ``context``."""
    return {
        "type": "ir.actions.act_window",
        "name": name,
        "res_model": "mail.compose.message",
        "view_mode": "form",
        "views": [(False, "form")],
        "target": "new",
        "context": context,
    }
