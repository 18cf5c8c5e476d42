"""The export tests share the session's small real export (tests/conftest.py)."""

from __future__ import annotations

import pytest
from shufflenet.export.pipeline import ExportResult


@pytest.fixture(scope="session")
def small_export(small_export_result: ExportResult) -> ExportResult:
    return small_export_result
