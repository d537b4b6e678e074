"""Domain refusals reach the console through `auraquant.errors.UserError`, so the console imports no domain:
each one still renders as its own kind in one line, and anything else is still reported as internal."""

from __future__ import annotations

import json

import pytest

from aura.config.models import MissingApiKey
from auraquant.console import error_exit_code
from auraquant.cta.cloud.errors import BundleError, CloudError
from auraquant.cta.data.access import HoldoutSealed
from auraquant.cta.data.ccxt_source import FetchError
from auraquant.cta.data.features import FeatureError
from auraquant.cta.data.ingest import DataInputError
from auraquant.cta.data.service import DataQualityError
from auraquant.cta.data.timeframes import TimeframeError
from auraquant.cta.governance.errors import GovernanceError, SignatureInvalid
from auraquant.cta.research.goal import GoalError
from auraquant.cta.sandbox.errors import ModuleSandboxError
from auraquant.errors import UserError
from auraquant.store import StoreError, WorkspaceBusy
from auraquant.workspace import NotAWorkspace, WorkspaceRefused

# Every error type the console used to import by name, with the builtin base callers catch it by.
REFUSALS: list[tuple[type[BaseException], type[BaseException]]] = [
    (FetchError, RuntimeError), (DataInputError, ValueError), (DataQualityError, ValueError),
    (FeatureError, ValueError), (TimeframeError, ValueError), (StoreError, RuntimeError),
    (WorkspaceBusy, RuntimeError), (WorkspaceRefused, RuntimeError), (GovernanceError, RuntimeError),
    (SignatureInvalid, RuntimeError), (CloudError, RuntimeError), (BundleError, RuntimeError),
    (GoalError, ValueError), (ModuleSandboxError, RuntimeError), (HoldoutSealed, PermissionError),
]


def _render(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert error_exit_code(exc, as_json=True) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


@pytest.mark.parametrize(("cls", "base"), REFUSALS, ids=[c.__name__ for c, _ in REFUSALS])
def test_domain_refusals_are_user_errors_and_keep_their_base(cls: type[BaseException], base: type[BaseException],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert issubclass(cls, UserError) and issubclass(cls, base)
    exc = cls.__new__(cls)
    Exception.__init__(exc, "refused: bad input\nsecond line")
    assert _render(exc, capsys) == {"error": "refused: bad input; second line", "kind": cls.__name__}


@pytest.mark.parametrize("exc", [MissingApiKey("set ANTHROPIC_API_KEY"), NotAWorkspace("nowhere"),
                                 KeyError("no profile"), FileNotFoundError(2, "No such file", "x.csv")])
def test_builtin_bad_input_is_rendered_by_kind(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> None:
    assert _render(exc, capsys)["kind"] == type(exc).__name__


def test_anything_else_is_internal(capsys: pytest.CaptureFixture[str]) -> None:
    got = _render(RuntimeError("boom"), capsys)
    assert got["kind"] == "internal" and got["error"].startswith("unexpected RuntimeError: boom")
