"""Fixtures for walk-forward integration tests."""

from __future__ import annotations

import pytest

from auraquant.cta.data.service import synth
from tests.integration.experiment.wf_fixtures import N_BARS


@pytest.fixture
def synth_ws(workspace):
    dv, _ = synth(workspace.store, n=N_BARS, seed=21)
    return workspace, dv.id
