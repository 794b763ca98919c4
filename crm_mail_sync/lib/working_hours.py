"""Working-hours arithmetic for reply-time alerts, over plain intervals."""

from datetime import timedelta


def add_working_hours(intervals, start, hours):
    """The moment ``hours`` of working time after ``start``.

    :param list intervals: ``(begin, end)`` working periods, sorted and not
        overlapping, in datetimes comparable with ``start`` (all aware, or all naive)
    :param start: when the clock starts; time before the first period that covers or
        follows it does not count
    :param float hours: working hours to add, more than zero
    :return: the deadline, or None when ``intervals`` end before it is reached
    """
    left = hours * 3600.0
    for begin, end in intervals:
        if end <= start:
            continue
        begin = max(begin, start)
        available = (end - begin).total_seconds()
        if left <= available:
            return begin + timedelta(seconds=left)
        left -= available
    return None
