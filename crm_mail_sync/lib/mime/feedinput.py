"""The input side of the private copy of Python's feed parser: boundary tests that
need no regular expression compiled per boundary, and a buffer that hands a part's
body over in one piece instead of line by line.

Python's ``BufferedSubFile`` splits the whole message into lines up front and returns
them one at a time, testing each against the boundary of every enclosing multipart: a
500 KB base64 attachment is some 7,000 lines, each costing a few Python calls.
``TextInput`` keeps the text whole and cuts lines off it a couple of kilobytes at a
time, for what the parser reads line by line (headers, boundaries, small bodies).
Where the parser only glues lines back together (the rest of a body, an epilogue), it
finds the next boundary line with ``str.find`` and returns everything before it at
once. The lines are ``BufferedSubFile``'s, and so are the false EOFs.
"""

import re
from collections import deque
from io import StringIO

# The end of a boundary line after its separator, as Python's parser writes it.
BOUNDARY_TAIL = re.compile(r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
# One line as io.StringIO(newline="").readlines() cuts it: \r\n, \r and \n end lines.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_LINE_BREAK = re.compile(r"[\r\n]")
# Characters of text cut into lines at a time for reading line by line (headers,
# boundaries): StringIO cuts them in C; more would be cut in vain before a long body.
_BLOCK = 2048
_FINAL_LINE_BREAK = re.compile(r"(\r\n|\r|\n)\Z")


class BoundaryMatcher:
    """What ``re.compile`` of Python's boundary pattern returns, without compiling it.

    The standard feed parser compiles ``(?P<sep>--<boundary>)(?P<end>--)?...$`` for
    every multipart part it meets; boundaries are unique per message, so Python's
    pattern cache never helps, and compiling took about 0.1 ms per message: as long as
    the whole rest of parsing a small message. Matching the separator as a prefix and
    the same tail with one precompiled pattern gives the same ``end``, ``ws`` and
    ``linesep`` groups, the only ones the parser reads.
    """

    __slots__ = ("separator",)

    def __init__(self, separator):
        self.separator = separator

    def match(self, line):
        """Return the match of ``line`` as a boundary line, or None."""
        if not line.startswith(self.separator):
            return None
        return BOUNDARY_TAIL.match(line, len(self.separator))


class FinalLineBreak:
    """``feedparser.NLCRE_eol``, the line break ending a text, found without scanning
    the text: the parser strips it from every part's body, and the pattern's
    ``search`` tried each of the body's line breaks on the way to the end."""

    @staticmethod
    def search(text):
        """Return the match of the line break ending ``text``, or None."""
        # The match is at most two characters long and must end the text.
        return _FINAL_LINE_BREAK.search(text, max(len(text) - 2, 0))


def _separator(predicate):
    """Return the text every line accepted by the false-EOF test ``predicate`` starts
    with, or None for a test of another kind (then lines are read one by one)."""
    owner = getattr(predicate, "__self__", None)
    if type(owner) is BoundaryMatcher:
        return owner.separator
    # Python 3.13 and later test boundaries with a closure of their own, no pattern.
    code = getattr(predicate, "__code__", None)
    if (
        code is not None
        and code.co_name == "boundarymatch"
        and code.co_freevars == ("separator",)
        and isinstance(predicate.__closure__[0].cell_contents, str)
    ):
        return predicate.__closure__[0].cell_contents
    return None


class TextInput:
    """``feedparser.BufferedSubFile`` over one string, with the same lines and false
    EOFs, that can also return the text up to the next false EOF in one piece.

    :param need_more_data: the feed parser module's marker for "no complete line yet"
    """

    def __init__(self, need_more_data):
        self._need_more_data = need_more_data
        self._text = ""
        # Lines to read: those given back (the next one last), those cut ahead of time
        # out of the text before _cut, then the text from _cut to _end. What follows
        # _end is a last line still without its line break: it waits for more data.
        self._unread = []
        self._lines = deque()
        self._cut = 0
        self._end = 0
        self._closed = False
        self._eofstack = []
        self._separators = []  # what each false-EOF line starts with, None: unknown
        # All of them, for str.startswith: other lines need no test; None: test all.
        self._prefixes = ()
        # separator: (searched from, first boundary line found or -1, searched up to)
        self._found = {}
        # Set by the parser once a part's headers are read: from then on it only
        # concatenates what it iterates over, until the next part starts.
        self.in_one_piece = False

    def push_eof_matcher(self, pred):
        """Make lines accepted by ``pred`` read as the end of the input."""
        self._eofstack.append(pred)
        self._separators.append(_separator(pred))
        self._set_prefixes()

    def pop_eof_matcher(self):
        """Forget the last false-EOF test pushed."""
        self._separators.pop()
        self._set_prefixes()
        return self._eofstack.pop()

    def _set_prefixes(self):
        separators = self._separators
        self._prefixes = None if None in separators else tuple(separators)

    def push(self, data):
        """Add text; only lines ended by a line break are read before ``close``."""
        keep = self._cut - sum(map(len, self._lines))  # where the lines cut ahead start
        self._text = self._text[keep:] + data
        self._end -= keep
        self._cut -= keep
        self._found.clear()
        if "\n" not in data and "\r" not in data:
            return
        # As BufferedSubFile: a final "\r" may be the first half of a "\r\n".
        stop = len(self._text) - self._text.endswith("\r")
        self._end = max(self._text.rfind("\n", 0, stop), self._text.rfind("\r", 0, stop)) + 1

    def close(self):
        """No more data: the last line counts even without a line break."""
        self._end = len(self._text)
        self._closed = True

    def readline(self):
        """Return the next line, '' at a (false) EOF, or the need-more-data marker."""
        if self._unread:
            line = self._unread.pop()
        elif self._lines:
            line = self._lines.popleft()
        elif self._cut < self._end:
            self._cut_lines()
            line = self._lines.popleft()
        else:
            return "" if self._closed else self._need_more_data
        prefixes = self._prefixes
        if prefixes is None or (prefixes and line.startswith(prefixes)):
            # The innermost boundary first, as RFC 2046 section 5.1.2 wants.
            for ateof in reversed(self._eofstack):
                if ateof(line):
                    self._unread.append(line)
                    return ""
        return line

    def _cut_lines(self):
        start = self._cut
        line_break = _LINE_BREAK.search(self._text, start + _BLOCK, self._end)
        if line_break is None:
            self._cut = self._end
        else:
            self._cut = line_break.end()
            # A "\r" before a "\n" is half of one line break.
            if line_break.group() == "\r" and self._text.startswith("\n", self._cut):
                self._cut += 1
        self._lines.extend(StringIO(self._text[start : self._cut], newline="").readlines())

    def unreadline(self, line):
        """Give back a line: the next ``readline`` returns it."""
        self._unread.append(line)

    def __iter__(self):
        # Iterated over until '': the line-by-line loop of Python's parser, in C.
        return iter(self._read_piece if self.in_one_piece else self.readline, "")

    def _read_piece(self):
        """Return all complete lines up to the next false EOF as one string, or what
        ``readline`` returns when there is no such line to give."""
        if self._unread or self._lines or self._prefixes is None:
            # Lines cut ahead of time are few, often a small part's whole body: read
            # one by one, they cost less than a search.
            return self.readline()
        pos = stop = self._cut
        if pos < self._end:
            stop = self._end
            for predicate, separator in zip(self._eofstack, self._separators, strict=True):
                stop = self._boundary_line(predicate, separator, pos, stop)
        if stop == pos:
            return self.readline()
        self._cut = stop
        return self._text[pos:stop]

    def _boundary_line(self, predicate, separator, pos, limit):
        """Return where the first line accepted by ``predicate`` starts, at or after
        ``pos`` and before ``limit``; ``limit`` when there is none.

        Such a line starts with ``separator``. What was found is remembered: the
        position only moves forward, so each boundary's text is searched once.
        """
        known = self._found.get(separator)
        if known is not None:
            start, found, searched = known
            if start <= pos and found >= pos:
                return min(found, limit)
            if start <= pos and found == -1 and searched >= limit:
                return limit
        found = self._search(predicate, separator, pos, limit)
        self._found[separator] = (pos, found, limit)
        return limit if found == -1 else found

    def _search(self, predicate, separator, pos, limit):
        text = self._text
        at = text.find(separator, pos, limit)
        while at != -1:
            if at == pos or text[at - 1] in "\r\n":
                line = _LINE.match(text, at, self._end).group()
                if predicate(line):
                    return at
                next_line = at + len(line)
            else:
                # Not at a line start: no other candidate before the next line.
                line_break = _LINE_BREAK.search(text, at, limit)
                if line_break is None:
                    return -1
                next_line = line_break.end()
            at = text.find(separator, next_line, limit)
        return -1
