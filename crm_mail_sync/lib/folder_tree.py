"""The folder tree of a mailbox, as the server's hierarchy gives it.

IMAP LIST names each folder in full (``INBOX/Projects/Acme``, ``INBOX.Projects.Acme``)
with the delimiter that separates its levels; a folder's parent is the longest prefix,
cut at a delimiter, that the server lists too. Siblings show like a mail client's:
INBOX first, then Sent, Drafts, Archive, Junk and Trash by their special-use flag,
then the others alphabetically.
"""

# The rank of a folder by its special use (RFC 6154); INBOX comes before all of them.
SPECIAL_USE_RANK = {
    "\\sent": 1,
    "\\drafts": 2,
    "\\archive": 3,
    "\\junk": 4,
    "\\trash": 5,
}
OTHER_RANK = 6


def _key(name):
    # INBOX is case-insensitive (RFC 3501): "Inbox/Sub" is a child of "INBOX".
    return "INBOX" if name.upper() == "INBOX" else name


def parent_names(folders):
    """Map each folder's server name to its parent's, or to None for a top folder.

    :param folders: iterable of (raw_name, delimiter) pairs, as the server lists them
    :return: dict raw_name -> raw_name of the parent or None
    """
    folders = list(folders)
    listed = {_key(name): name for name, _delimiter in folders}
    parents = {}
    for name, delimiter in folders:
        parent = None
        if delimiter:
            parts = name.split(delimiter)
            # The nearest listed ancestor: a level the server does not list (a
            # \NonExistent parent) is skipped.
            for depth in range(len(parts) - 1, 0, -1):
                candidate = listed.get(_key(delimiter.join(parts[:depth])))
                if candidate is not None:
                    parent = candidate
                    break
        parents[name] = parent
    return parents


def relative_label(label, parent_label, delimiter):
    """The folder's own name under its parent: ``Acme`` for ``INBOX/Projects/Acme``."""
    if parent_label and delimiter and label.upper().startswith(parent_label.upper() + delimiter):
        return label[len(parent_label) + len(delimiter) :] or label
    if delimiter and parent_label:
        return label.rsplit(delimiter, 1)[-1]
    return label


def sort_key(name, label, special_use=None, is_sent=False):
    """The order of sibling folders: INBOX, Sent, Drafts, Archive, Junk, Trash, others.

    :param name: the server's name; :param label: the name shown (sorted on)
    :param special_use: the special-use flag (``\\Sent``...); :param is_sent: a Sent
        folder found by its name on a server without SPECIAL-USE
    """
    if name.upper() == "INBOX":
        rank = 0
    elif special_use and special_use.lower() in SPECIAL_USE_RANK:
        rank = SPECIAL_USE_RANK[special_use.lower()]
    elif is_sent:
        rank = SPECIAL_USE_RANK["\\sent"]
    else:
        rank = OTHER_RANK
    return (rank, (label or name).casefold(), name)
