"""Case assignment strategies, as plain functions over user ids."""


def round_robin(candidates, last=None):
    """The candidate after ``last`` in the stable order of ``candidates``.

    :param list candidates: eligible user ids, in their stable order
    :param last: the user assigned last time (may have left the team)
    :return: a user id, or None when there is no candidate
    """
    if not candidates:
        return None
    if last is None:
        return candidates[0]
    following = [user for user in candidates if user > last]
    return following[0] if following else candidates[0]


def least_busy(candidates, open_counts, last=None):
    """The candidate with the fewest open cases; ties go by round-robin order.

    :param dict open_counts: user id -> number of open cases (missing means 0)
    """
    if not candidates:
        return None
    fewest = min(open_counts.get(user, 0) for user in candidates)
    tied = [user for user in candidates if open_counts.get(user, 0) == fewest]
    return round_robin(tied, last)


class Turn:
    """Whose turn it was last, read from where it is kept only if a strategy asks.

    ``read`` is called at most once, on the first access to :attr:`last`. The caller
    makes ``read`` take the lock on the turn, so a strategy that never looks at the
    turn (direct assignment) neither waits for nor holds up concurrent imports; and
    :attr:`taken` tells the caller whether the choice made is the new turn to record.

    :param read: callable returning the user id assigned last time, or None
    """

    _UNREAD = object()

    def __init__(self, read):
        self._read = read
        self._last = self._UNREAD

    @property
    def taken(self):
        """Whether the turn was read (and so is held until it is recorded)."""
        return self._last is not self._UNREAD

    @property
    def last(self):
        """The user id assigned last time, or None; read on first access."""
        if not self.taken:
            self._last = self._read()
        return self._last
