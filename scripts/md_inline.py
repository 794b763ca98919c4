"""Inline Markdown -> reStructuredText, for scripts/gen_addon_readme.py.

Code spans, emphasis, links, reference links, autolinks and images inside running
text are parsed (InlineParser) and rendered (InlineRenderer) with the escapes
reStructuredText needs. The blocks are in md_to_rst.py.
"""

import re
import unicodedata

# ---------------------------------------------------------------------------
# Inline Markdown -> reStructuredText
# ---------------------------------------------------------------------------

ASCII_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# reStructuredText inline markup: what may precede a start-string / follow an
# end-string (docutils' "inline markup recognition rules"), for ASCII; other
# characters by their Unicode category.
RST_START_OK = set("-:/'\"<([{")
# After one of these, a start-string followed by its closing character is not markup.
RST_PAIRS = {"'": "'", '"': '"', "<": ">", "(": ")", "[": "]", "{": "}"}
RST_END_OK = set("-.,:;!?\\/'\")]}>")


def _is_space(char):
    return char is None or char.isspace()


def _is_punct(char):
    return char is not None and (
        char in ASCII_PUNCT or unicodedata.category(char).startswith(("P", "S"))
    )


def _start_ok(prev):
    """May an inline markup start-string follow ``prev`` (None: start of text)?"""
    if prev is None or prev.isspace() or prev in RST_START_OK:
        return True
    return ord(prev) > 127 and unicodedata.category(prev) in ("Ps", "Pi", "Pf", "Pd", "Po")


def _end_ok(nxt):
    """May ``nxt`` (None: end of text) follow an inline markup end-string?"""
    if nxt is None or nxt.isspace() or nxt in RST_END_OK:
        return True
    return ord(nxt) > 127 and unicodedata.category(nxt) in ("Pe", "Pi", "Pf", "Pd", "Po")


class Text:
    def __init__(self, text):
        self.text = text


class Code:
    def __init__(self, code):
        self.code = code


class Link:
    def __init__(self, children, url):
        self.children = children
        self.url = url


class Emph:
    def __init__(self, children, strong):
        self.children = children
        self.strong = strong


class Delim:
    def __init__(self, char, count, can_open, can_close):
        self.char = char
        self.count = count
        self.orig = count
        self.can_open = can_open
        self.can_close = can_close


LINK_TAIL_RE = re.compile(
    r"\(\s*<?([^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+(\"[^\"]*\"|'[^']*'))?\s*\)"
)
REF_TAIL_RE = re.compile(r"\[([^\]]*)\]")
AUTOLINK_RE = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)>")
HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)


def _relative(url):
    """Fragments live in readme/, README.rst one level up: '../x' is 'x' there."""
    while url.startswith("../"):
        url = url[3:]
    return url


def _find_bracket_end(text, start):
    """Index of the ']' closing the '[' at ``start`` (code spans and escapes skipped)."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            close = text.find("`" * run, i + run)
            if close != -1:
                i = close + run
                continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


class InlineParser:
    def __init__(self, references):
        self.references = references

    def parse(self, text):
        nodes = []
        buf = []

        def flush():
            if buf:
                nodes.append(Text("".join(buf)))
                buf.clear()

        i = 0
        n = len(text)
        while i < n:
            char = text[i]
            if char == "\\" and i + 1 < n and text[i + 1] in ASCII_PUNCT:
                buf.append("\x00" + text[i + 1])  # an escaped (literal) character
                i += 2
                continue
            if char == "\\" and i + 1 < n and text[i + 1] == "\n":
                i += 1  # a hard line break: reStructuredText has none in paragraphs
                continue
            if char == "`":
                run = len(text[i:]) - len(text[i:].lstrip("`"))
                match = re.compile(r"(?<!`)" + "`" * run + r"(?!`)").search(text, i + run)
                if match:
                    flush()
                    code = text[i + run : match.start()].replace("\n", " ")
                    if code.startswith(" ") and code.endswith(" ") and code.strip():
                        code = code[1:-1]
                    nodes.append(Code(code))
                    i = match.end()
                else:
                    buf.append("\x00`" * run)
                    i += run
                continue
            if char == "<":
                match = AUTOLINK_RE.match(text, i)
                if match:
                    flush()
                    url = match.group(1)
                    target = url if ":" in url else "mailto:" + url
                    nodes.append(Link([Text(url)], target))
                    i = match.end()
                    continue
            if char == "!" and text.startswith("![", i):
                parsed = self._link_at(text, i + 1)
                if parsed:
                    flush()
                    children, url, end = parsed
                    # An image inside running text: a link to it.
                    nodes.append(Link(children or [Text(url)], _relative(url)))
                    i = end
                    continue
            if char == "[":
                parsed = self._link_at(text, i)
                if parsed:
                    flush()
                    children, url, end = parsed
                    nodes.append(Link(children, _relative(url)))
                    i = end
                    continue
            if char in "*_":
                run = len(text[i:]) - len(text[i:].lstrip(char))
                prev = text[i - 1] if i > 0 else None
                nxt = text[i + run] if i + run < n else None
                left = not _is_space(nxt) and (
                    not _is_punct(nxt) or _is_space(prev) or _is_punct(prev)
                )
                right = not _is_space(prev) and (
                    not _is_punct(prev) or _is_space(nxt) or _is_punct(nxt)
                )
                if char == "*":
                    can_open, can_close = left, right
                else:
                    can_open = left and (not right or _is_punct(prev))
                    can_close = right and (not left or _is_punct(nxt))
                flush()
                nodes.append(Delim(char, run, can_open, can_close))
                i += run
                continue
            buf.append(char)
            i += 1
        flush()
        return self._emphasis(nodes)

    def _link_at(self, text, start):
        """Parse '[text](url)', '[text][ref]', '[text][]' or '[ref]' at ``start``."""
        end = _find_bracket_end(text, start)
        if end == -1:
            return None
        label = text[start + 1 : end]
        match = LINK_TAIL_RE.match(text, end + 1)
        if match:
            return self.parse(label), match.group(1), match.end()
        match = REF_TAIL_RE.match(text, end + 1)
        if match:
            key = _ref_key(match.group(1) or label)
            if key in self.references:
                return self.parse(label), self.references[key], match.end()
            return None
        key = _ref_key(label)
        if key in self.references:
            return self.parse(label), self.references[key], end + 1
        return None

    @staticmethod
    def _emphasis(nodes):
        # CommonMark's delimiter-run algorithm ("process emphasis"), simplified.
        i = 0
        while i < len(nodes):
            closer = nodes[i]
            if not (isinstance(closer, Delim) and closer.can_close and closer.count):
                i += 1
                continue
            found = None
            for j in range(i - 1, -1, -1):
                opener = nodes[j]
                if not (
                    isinstance(opener, Delim)
                    and opener.char == closer.char
                    and opener.can_open
                    and opener.count
                ):
                    continue
                if (
                    (opener.can_close or closer.can_open)
                    and (opener.orig + closer.orig) % 3 == 0
                    and not (opener.orig % 3 == 0 and closer.orig % 3 == 0)
                ):
                    continue
                found = j
                break
            if found is None:
                i += 1
                continue
            opener = nodes[found]
            use = 2 if opener.count >= 2 and closer.count >= 2 else 1
            inner = [
                Text(node.char * node.count) if isinstance(node, Delim) else node
                for node in nodes[found + 1 : i]
            ]
            opener.count -= use
            closer.count -= use
            nodes[found + 1 : i] = [Emph(inner, use == 2)]
            i = found + 2
        return [Text(node.char * node.count) if isinstance(node, Delim) else node for node in nodes]


def _ref_key(label):
    return " ".join(label.lower().split())


def _plain(nodes):
    """The text of inline nodes without their markup (reStructuredText cannot nest)."""
    parts = []
    for node in nodes:
        if isinstance(node, Text):
            parts.append(node.text)
        elif isinstance(node, Code):
            parts.append(node.code)
        else:
            parts.append(_plain(node.children))
    return "".join(parts)


def _unescape(text):
    return text.replace("\x00", "")


class InlineRenderer:
    """Inline nodes -> reStructuredText text, with the escapes it needs."""

    def __init__(self, link_names):
        self.link_names = link_names  # link text -> URL, over the whole README

    def render(self, nodes):
        out = []
        items = self._flatten(nodes)
        for index, (kind, value) in enumerate(items):
            if kind == "text":
                following = items[index + 1] if index + 1 < len(items) else None
                out.append(self._escape_text(value, "".join(out), following))
                continue
            done = "".join(out)
            prev = done[-1] if done else None
            content_first = value.lstrip("*`")[:1]
            if (
                not _start_ok(prev)
                or (prev in RST_PAIRS and content_first == RST_PAIRS[prev])
                or (value.startswith("`") and re.search(r":[\w.+-]+:$", done))  # a role
            ):
                out.append("\\ ")
            out.append(value)
            following = items[index + 1] if index + 1 < len(items) else None
            if following is not None:
                first = (
                    following[1][:1] if following[0] == "markup" else _unescape(following[1])[:1]
                )
                if following[0] == "markup" or not _end_ok(first or None):
                    out.append("\\ ")
        return "".join(out)

    def _flatten(self, nodes):
        items = []
        for node in nodes:
            if isinstance(node, Text):
                if items and items[-1][0] == "text":
                    items[-1] = ("text", items[-1][1] + node.text)
                else:
                    items.append(("text", node.text))
                continue
            markup = self._markup(node)
            if markup:
                items.append(("markup", markup))
        return items

    def _markup(self, node):
        if isinstance(node, Code):
            code = node.code.strip()
            if "``" in code:  # no reStructuredText literal can hold it
                return self._escape_text(code, "", None).replace("*", "\\*").replace("|", "\\|")
            return "``%s``" % code if code else ""
        if isinstance(node, Emph):
            content = _unescape(_plain(node.children)).strip()
            if not content:
                return ""
            content = content.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")
            # reStructuredText does not nest: '***x***' is strong.
            strong = node.strong or any(
                isinstance(child, Emph) and child.strong for child in node.children
            )
            return ("**%s**" if strong else "*%s*") % content
        if isinstance(node, Link):
            text = " ".join(_unescape(_plain(node.children)).split()) or node.url
            url = node.url
            if not url:
                return self._escape_text(text, "", None).replace("*", "\\*").replace("|", "\\|")
            url = url.replace("\\", "\\\\")
            if url.endswith("_"):  # 'name_' would make it a reference to a target
                url = url[:-1] + "\\_"
            if text == url:
                return "`%s <%s>`__" % (self._escape_phrase(text), url)
            # A named target once per text; the same text for another link: anonymous.
            seen = self.link_names.setdefault(text.lower(), url)
            suffix = "_" if seen == url else "__"
            return "`%s <%s>`%s" % (self._escape_phrase(text), url, suffix)
        raise TypeError(node)

    @staticmethod
    def _escape_phrase(text):
        return text.replace("\\", "\\\\").replace("`", "\\`").replace("<", "\\<")

    @staticmethod
    def _escape_text(text, before, following):
        """Escape what reStructuredText would read as markup in plain ``text``.

        ``before`` is the output so far; ``following`` tells whether markup follows.
        Characters escaped in the Markdown arrive as '\\x00' + the character.
        """
        chars = []  # (character, escaped in the Markdown)
        i = 0
        while i < len(text):
            if text[i] == "\x00" and i + 1 < len(text):
                chars.append((text[i + 1], True))
                i += 2
            else:
                chars.append((text[i], False))
                i += 1
        out = []
        prev = before[-1] if before else None
        i = 0
        while i < len(chars):
            char, escaped = chars[i]
            if i + 1 < len(chars):
                nxt = chars[i + 1][0]
            else:  # markup follows (perhaps after an escaped space): not a space
                nxt = "x" if following is not None else None
            if char in "\\`" or (escaped and char in "*|_"):
                out.append("\\" + char)
            elif char in "*|" and _start_ok(prev) and nxt is not None and not nxt.isspace():
                # It would start emphasis or a substitution reference.
                out.append("\\" + char)
            elif char == "_" and prev is not None and (prev.isalnum() or prev == "]"):
                # 'word_', 'word__' and '[1]_' would be references, unless a word goes on.
                end = i
                while end < len(chars) and chars[end][0] == "_" and not chars[end][1]:
                    end += 1
                after = chars[end][0] if end < len(chars) else None
                run = end - i
                out.append("\\_" * run if after is None or not after.isalnum() else "_" * run)
                i = end
                prev = "_"
                continue
            else:
                out.append(char)
            prev = char
            i += 1
        return "".join(out)
