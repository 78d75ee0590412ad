"""Just enough Markdown for the docs tests: fenced blocks, prose, links, GitHub's anchors."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HTML_ID = re.compile(r"""<a\s[^>]*?(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


def _closes(line: str, fence: str) -> bool:
    m = FENCE.match(line)
    return bool(m and not m["info"] and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence))


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, body) of every fenced code block."""
    blocks: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not _closes(lines[i], m["fence"]):
            body.append(lines[i])
            i += 1
        blocks.append((start + 1, m["info"], "\n".join(body) + "\n"))
        i += 1
    return blocks


def prose(text: str) -> str:
    """The text without fenced code blocks and HTML comments: what renders as Markdown."""
    out: list[str] = []
    fence: str | None = None
    for line in COMMENT.sub("", text).splitlines():
        if fence is not None:
            fence = None if _closes(line, fence) else fence
            continue
        m = FENCE.match(line)
        if m:
            fence = m["fence"]
        else:
            out.append(line)
    return "\n".join(out)


def heading_text(raw: str) -> str:
    """What GitHub shows of a heading: code, links and emphasis reduced to their text."""
    text = re.sub(r"`+([^`]*)`+", r"\1", raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"(\*{1,3}|_{1,3})(\S(?:.*?\S)?)\1", r"\2", text).strip()


def github_slug(text: str) -> str:
    """github-slugger: lower case, drop punctuation but '-' and '_', each space becomes '-'."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The #fragments GitHub gives a page: heading slugs (repeats get -1, -2) and <a id|name>."""
    body = prose(page.read_text())
    found: set[str] = set(HTML_ID.findall(body))
    seen: dict[str, int] = {}
    lines = body.splitlines()
    for i, line in enumerate(lines):
        m = ATX.match(line)
        if m:
            raw = m.group(2)
        elif i > 0 and SETEXT.match(line) and lines[i - 1].strip() and not ATX.match(lines[i - 1]):
            raw = lines[i - 1]
        else:
            continue
        slug = github_slug(heading_text(raw))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def links(page: Path) -> list[str]:
    """Link destinations in the rendered text: inline, reference definitions, <a href>."""
    body = INLINE_CODE.sub("", prose(page.read_text()))
    return INLINE_LINK.findall(body) + REFERENCE_DEF.findall(body) + HREF.findall(body)
