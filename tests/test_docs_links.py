"""The user docs hold together: every relative link resolves, the README stays short, no workplace notes.

Links are checked as GitHub renders them: ``[text](path)``, ``[text](path#anchor)`` and ``[text](#anchor)``
outside code; an anchor must be the slug of a heading of the target file (GitHub's rule: the heading's text,
lower-cased, every character that is not a letter, digit, space, ``-`` or ``_`` dropped, spaces made ``-``,
and ``-1``, ``-2`` ... for repeats).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_README_LINES = 250

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
_FORBIDDEN = [
    (re.compile(r"\bissues?\s*#?\s*\d+", re.I), "an issue number"),
    (re.compile(r"\bBEGIN\b|\bEND\b"), "a BEGIN/END marker"),
    (re.compile(r"<!--.*?\b(begin|end)\b.*?-->", re.I | re.S), "a begin/end section comment"),
    (re.compile(r"device tool", re.I), "the words 'device tool'"),
    (re.compile(r"\brun\(command\s*=", re.I), "a run(command=...) call"),
]


def doc_files() -> list[Path]:
    """README.md, every Markdown page under docs/ and the Android app's README."""
    files = [README, *sorted((REPO / "docs").rglob("*.md")), REPO / "android_demo" / "README.md"]
    return [f for f in files if f.is_file()]


def strip_code(text: str) -> str:
    """The text without fenced blocks and inline code spans (links and headings there are not rendered)."""
    text = _FENCE.sub("", text)
    return _CODE_SPAN.sub("", text)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's Markdown source (without the leading #s)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    out = set()
    for m in _HEADING.finditer(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    """Link targets in a Markdown file that point inside the repository (no scheme, no mail)."""
    targets = [m.group(1) for m in _LINK.finditer(strip_code(path.read_text(encoding="utf-8")))]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file or folder")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return problems


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_issue_numbers_markers_or_workplace_tools(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = [f"{why}: {m.group(0)!r}" for rx, why in _FORBIDDEN for m in rx.finditer(text)]
    assert found == []


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    assert first_block is not None
    assert first_block.group(1).split() == ["make", "demo", "make", "test"]


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    pages = {p.resolve() for p in (REPO / "docs").glob("*.md")}
    assert sorted(str(p.relative_to(REPO)) for p in pages - linked) == []


def test_the_checker_finds_broken_links_and_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## The `--runtime` option: arm64 (emulated)\n")
    page.write_text(
        "# Page\n\n[ok](other.md#the---runtime-option-arm64-emulated) [self](#page) [web](https://x.org/a)\n"
        "[gone](missing.md) [bad anchor](other.md#nope) [bad self](#nope)\n"
        "```\n[in code](missing_too.md)\n```\n`[span](missing_three.md)`\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file or folder",
        "other.md#nope: no heading with anchor #nope in other.md",
        "#nope: no heading with anchor #nope in page.md",
    ]


def test_github_slugs() -> None:
    assert github_slug("What `shufflenet-export --output DIR` replaces") == (
        "what-shufflenet-export---output-dir-replaces"
    )
    assert github_slug("The paper's Table 8: `shufflenet-bench table8`") == (
        "the-papers-table-8-shufflenet-bench-table8"
    )
    assert github_slug("Train on a GPU: `--device` and `scripts/train_gpu.sh`") == (
        "train-on-a-gpu---device-and-scriptstrain_gpush"
    )
