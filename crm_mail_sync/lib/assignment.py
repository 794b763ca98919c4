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
