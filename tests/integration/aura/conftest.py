"""Fixtures of the aura integration tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make the helper modules of this directory importable by their plain names from its test files.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aura_wire_helpers import KINDS


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
