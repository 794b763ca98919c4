"""Markdown -> reStructuredText, for scripts/gen_addon_readme.py.

The blocks of the readme/*.md fragments (paragraphs, headings, lists, fenced code,
images, pipe tables, block quotes) are parsed and rendered by MarkdownConverter; the
inline markup is md_inline.py's.
"""

import re
import unicodedata

from md_inline import (
    HTML_COMMENT_RE,
    InlineParser,
    InlineRenderer,
    _ref_key,
    _relative,
    _unescape,
)

# Underlines of the headings inside a section and of the Credits subsections (the
# title and the sections are gen_addon_readme.py's).
SUB_UNDERLINES = ("~", "^", '"', "'", "+")


# ---------------------------------------------------------------------------
# Block Markdown -> reStructuredText
# ---------------------------------------------------------------------------

FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
LIST_RE = re.compile(r"^( {0,3})([*+-]|\d{1,9}[.)])( +|$)(.*)$")
RULE_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
ADORNMENT_RE = re.compile(r"^([!-/:-@\[-`{-~])\1*\s*$")
QUOTE_RE = re.compile(r"^ {0,3}> ?(.*)$")
TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
REF_DEF_RE = re.compile(
    r"^ {0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s+(\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*$"
)
IMAGE_LINE_RE = re.compile(
    r"^\s*(?:\[)?!\[([^\]]*)\]\(\s*<?([^\s)>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
    r"(?:\]\(\s*<?([^\s)>]+)>?\s*\))?\s*$"
)
RST_FIRST_LINE_RISKS = re.compile(
    r"^(?:"
    r"\(?(?:\d+|[A-Za-z]|[ivxlcdm]+|[IVXLCDM]+|#)[.)](?:\s|$)"  # enumerated list
    r"|:[^:\s]"  # field list
    r"|([!-/:-@\[-`{-~])\1{3,}\s*$"  # transition
    r"|-{1,2}\w|/\w"  # option list
    r"|\.\.(?:\s|$)"  # comment, directive
    r"|__(?:\s|$)"  # anonymous target
    r"|>>>"  # doctest
    r"|\|(?:\s|$)"  # line block
    r"|[*+•‣⁃-](?:\s|$)"  # bullet
    r")"
)


def _indent(line):
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _dedent(line, width):
    expanded = line.expandtabs(4)
    if _indent(expanded) >= width:
        return expanded[width:]
    return expanded.lstrip(" ")


def _blank(line):
    return not line.strip()


def _width(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Block:
    def __init__(self, kind, **data):
        self.kind = kind
        self.blank_before = True
        self.__dict__.update(data)


class MarkdownConverter:
    """One README: the link targets are shared by all its fragments."""

    def __init__(self):
        self.link_names = {}

    # -- parsing ------------------------------------------------------------

    def _starts_block(self, line):
        return bool(
            FENCE_RE.match(line)
            or ATX_RE.match(line)
            or RULE_RE.match(line)
            or QUOTE_RE.match(line)
            or line.lstrip().startswith("<!--")
        )

    def parse(self, lines):
        blocks = []
        i = 0
        n = len(lines)
        blank_before = True
        while i < n:
            line = lines[i]
            if _blank(line):
                blank_before = True
                i += 1
                continue
            start = i
            block, i = self._parse_block(lines, i)
            if block is not None:
                block.blank_before = blank_before or start == 0
                blocks.append(block)
            blank_before = False
        return blocks

    def _parse_block(self, lines, i):
        line = lines[i]
        n = len(lines)
        match = FENCE_RE.match(line)
        if match:
            indent, fence, lang = len(match.group(1)), match.group(2), match.group(3)
            code = []
            i += 1
            while i < n and not re.match(
                r"^ {0,3}%s%s*\s*$" % (re.escape(fence), re.escape(fence[0])), lines[i]
            ):
                code.append(_dedent(lines[i], indent) if lines[i].strip() else "")
                i += 1
            return Block("code", lang=lang, lines=code), i + 1
        if line.lstrip().startswith("<!--"):
            text = "\n".join(lines[i:])
            end = text.find("-->")
            consumed = text[: end + 3].count("\n") + 1 if end != -1 else n - i
            return None, i + consumed
        match = ATX_RE.match(line)
        if match:
            text = (match.group(2) or "").strip()
            return Block("heading", level=len(match.group(1)), text=text), i + 1
        if RULE_RE.match(line):
            return None, i + 1  # a horizontal rule: nothing in reStructuredText
        match = LIST_RE.match(line)
        if match:
            return self._parse_list(lines, i)
        if QUOTE_RE.match(line):
            quoted = []
            while i < n and not _blank(lines[i]):
                match = QUOTE_RE.match(lines[i])
                quoted.append(match.group(1) if match else lines[i].strip())
                i += 1
            return Block("quote", blocks=self.parse(quoted)), i
        if (
            i + 1 < n
            and "|" in line
            and "|" in lines[i + 1]
            and TABLE_SEP_RE.match(lines[i + 1])
            and len(self._split_row(line)) == len(self._split_row(lines[i + 1]))
        ):
            return self._parse_table(lines, i)
        # A paragraph, up to a blank line or another block.
        para = [line]
        i += 1
        while i < n and not _blank(lines[i]):
            if SETEXT_RE.match(lines[i]):
                level = 1 if lines[i].strip().startswith("=") else 2
                return Block("heading", level=level, text=" ".join(p.strip() for p in para)), i + 1
            if self._starts_block(lines[i]):
                break
            match = LIST_RE.match(lines[i])
            if (
                match
                and match.group(4).strip()
                and (not match.group(2)[0].isdigit() or match.group(2)[:-1] == "1")
            ):
                break
            para.append(lines[i])
            i += 1
        return Block("para", lines=[p.strip() for p in para]), i

    def _parse_list(self, lines, i):
        n = len(lines)
        first = LIST_RE.match(lines[i])
        ordered = first.group(2)[0].isdigit()
        start = int(first.group(2)[:-1]) if ordered else 1
        items = []
        blank_before = False
        while i < n:
            match = LIST_RE.match(lines[i])
            if not match or match.group(2)[0].isdigit() != ordered:
                break
            marker_end = len(match.group(1)) + len(match.group(2))
            spaces = len(match.group(3))
            content_indent = marker_end + (spaces if 0 < spaces <= 4 else 1)
            item = [match.group(4)]
            i += 1
            while i < n:
                line = lines[i]
                if _blank(line):
                    j = i
                    while j < n and _blank(lines[j]):
                        j += 1
                    if j < n and _indent(lines[j]) >= content_indent:
                        item.extend([""] * (j - i))
                        i = j
                        continue
                    break
                if _indent(line) >= content_indent:
                    item.append(_dedent(line, content_indent))
                    i += 1
                    continue
                if LIST_RE.match(line) or self._starts_block(line) or _blank(item[-1]):
                    break
                item.append(line.strip())  # a lazy continuation line
                i += 1
            items.append((blank_before, self.parse(item)))
            j = i
            while j < n and _blank(lines[j]):
                j += 1
            nxt = LIST_RE.match(lines[j]) if j < n else None
            if nxt and nxt.group(2)[0].isdigit() == ordered:
                blank_before = j > i
                i = j
                continue
            break
        return Block("list", ordered=ordered, start=start, items=items), i

    @staticmethod
    def _split_row(line):
        line = line.strip()
        if line.startswith("|"):
            line = line[1:]
        if line.endswith("|") and not line.endswith("\\|"):
            line = line[:-1]
        cells = []
        current = []
        in_code = False
        i = 0
        while i < len(line):
            char = line[i]
            if char == "\\" and i + 1 < len(line) and line[i + 1] == "|":
                current.append("|")
                i += 2
                continue
            if char == "`":
                in_code = not in_code
            if char == "|" and not in_code:
                cells.append("".join(current).strip())
                current = []
            else:
                current.append(char)
            i += 1
        cells.append("".join(current).strip())
        return cells

    def _parse_table(self, lines, i):
        header = self._split_row(lines[i])
        rows = [header]
        i += 2
        while i < len(lines) and not _blank(lines[i]) and "|" in lines[i]:
            row = self._split_row(lines[i])
            row = (row + [""] * len(header))[: len(header)]
            rows.append(row)
            i += 1
        return Block("table", rows=rows), i

    # -- rendering ------------------------------------------------------------

    def inline(self, text, references):
        return InlineRenderer(self.link_names).render(InlineParser(references).parse(text))

    def convert(self, markdown, heading_depth=0):
        """Markdown text -> reStructuredText lines (no trailing blank line).

        Headings become titles underlined from ``SUB_UNDERLINES[heading_depth]`` on,
        or bold paragraphs when ``heading_depth`` is None (outside any section).
        """
        markdown = HTML_COMMENT_RE.sub("", markdown.replace("\r\n", "\n"))
        lines = []
        references = {}
        for line in markdown.split("\n"):
            match = REF_DEF_RE.match(line)
            if match:
                references[_ref_key(match.group(1))] = _relative(match.group(2))
                continue
            lines.append(line.rstrip())
        return self.render(self.parse(lines), references, heading_depth)

    def render(self, blocks, references, heading_depth=None):
        out = []
        heading_stack = []
        for block in blocks:
            rendered = self._render_block(block, references, heading_depth, heading_stack)
            if not rendered:
                continue
            if out:
                out.append("")
                if block.kind == "quote":
                    # An empty comment: the quote is not the content of what precedes.
                    out.extend(["..", ""])
            out.extend(rendered)
        return out

    def _render_block(self, block, references, heading_depth, heading_stack):
        kind = block.kind
        if kind == "para":
            return self._render_para(block.lines, references)
        if kind == "heading":
            text = " ".join(self.inline(block.text, references).split())
            if not text:
                return []
            if RST_FIRST_LINE_RISKS.match(text):
                text = "\\ " + text
            if heading_depth is None:
                return [self.inline("**%s**" % block.text, references)] if block.text else []
            while heading_stack and heading_stack[-1] >= block.level:
                heading_stack.pop()
            depth = min(heading_depth + len(heading_stack), len(SUB_UNDERLINES) - 1)
            heading_stack.append(block.level)
            return [text, SUB_UNDERLINES[depth] * max(_width(text), 1)]
        if kind == "code":
            body = [("   " + line) if line else "" for line in block.lines]
            while body and not body[0]:
                body.pop(0)
            while body and not body[-1]:
                body.pop()
            if not body:
                return []
            lang = block.lang if re.match(r"^[\w+#.-]+$", block.lang or "") else ""
            return [".. code-block:: %s" % lang if lang else "::", ""] + body
        if kind == "image":
            return self._render_image(block)
        if kind == "list":
            return self._render_list(block, references)
        if kind == "table":
            return self._render_table(block, references)
        if kind == "quote":
            inner = self.render(block.blocks, references)
            return [("    " + line) if line else "" for line in inner]
        raise ValueError(kind)

    def _render_para(self, lines, references):
        # Lines that are only an image are images; the rest stays paragraphs.
        out = []
        chunk = []

        def flush_chunk():
            if not chunk:
                return
            text = self.inline("\n".join(chunk), references)
            rendered = [line.strip() for line in text.split("\n") if line.strip()]
            if not rendered:
                chunk.clear()
                return
            if RST_FIRST_LINE_RISKS.match(rendered[0]):
                rendered[0] = "\\ " + rendered[0]
            for index in range(1, len(rendered)):
                if ADORNMENT_RE.match(rendered[index]):  # it would underline a title
                    rendered[index] = "\\ " + rendered[index]
            if rendered[-1].endswith("::"):
                rendered[-1] = rendered[-1][:-2] + ":\\:"
            if out:
                out.append("")
            out.extend(rendered)
            chunk.clear()

        for line in lines:
            match = IMAGE_LINE_RE.match(line)
            if match:
                flush_chunk()
                if out:
                    out.append("")
                out.extend(
                    self._render_image(
                        Block(
                            "image", alt=match.group(1), src=match.group(2), target=match.group(3)
                        )
                    )
                )
            else:
                chunk.append(line)
        flush_chunk()
        return out

    @staticmethod
    def _render_image(block):
        out = [".. image:: %s" % _relative(block.src)]
        if block.alt:
            out.append("   :alt: %s" % _unescape(block.alt))
        if block.target:
            out.append("   :target: %s" % _relative(block.target))
        return out

    def _render_list(self, block, references):
        out = []
        for index, (blank_before, blocks) in enumerate(block.items):
            if block.ordered:
                marker = "#." if index or block.start == 1 else "%d." % block.start
            else:
                marker = "*"
            body = self.render(blocks, references)
            if not body:
                continue
            pad = " " * (len(marker) + 1)
            if index and (blank_before or self._needs_blank_after(block.items[index - 1][1])):
                out.append("")
            out.append((marker + " " + body[0]).rstrip())
            out.extend((pad + line) if line else "" for line in body[1:])
        return out

    @staticmethod
    def _needs_blank_after(blocks):
        return bool(blocks) and blocks[-1].kind in ("list", "code", "table", "quote", "image")

    def _render_table(self, block, references):
        out = [".. list-table::"]
        out += ["   :header-rows: 1", ""] if len(block.rows) > 1 else [""]
        for row in block.rows:
            for index, cell in enumerate(row):
                text = self.inline(cell, references) if cell else ""
                if RST_FIRST_LINE_RISKS.match(text):
                    text = "\\ " + text
                marker = "   * -" if index == 0 else "     -"
                out.append((marker + " " + text).rstrip())
        return out
