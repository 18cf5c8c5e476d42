"""Shared CLI plumbing: one-line errors instead of tracebacks, logging set-up."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence


def run_cli(body: Callable[[], int], expected: tuple[type[BaseException], ...] = (ValueError, OSError)) -> int:
    """Run a CLI body; expected errors print one line on stderr and exit 2, Ctrl-C exits 130."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return body()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except expected as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 2


def error_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type when it has none)."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text table lines: the first row is the header, underlined; columns left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
