"""Shared CLI plumbing: one-line errors instead of tracebacks, logging set-up."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


def run_cli(body: Callable[[], int], expected: tuple[type[BaseException], ...] = (ValueError, OSError)) -> int:
    """Run a CLI body; expected errors print one line on stderr and exit 2, Ctrl-C exits 130."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return body()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except expected as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
