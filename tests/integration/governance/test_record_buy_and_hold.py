"""Buy and hold inside the signed body of an archive record: signed, covered by the id, tamper-evident;
records without it keep the id they always had."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from auraquant.canonical import content_id
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.signing import parse_envelope
from tests.integration.governance.helpers import AGENT
from tests.unit.governance.factories import GOAL, make_record, record_body

BH = {"total_return": 13.46, "ann_return": 0.9, "ann_volatility": 0.7, "sharpe": 1.1, "sortino": 1.5,
      "max_drawdown": -0.77, "n_days": 1800.0, "segments": 6.0, "excess_return": -12.92, "excess_sharpe": 0.52,
      "excess_max_drawdown": 0.65}


def test_buy_and_hold_is_in_the_signed_body_and_the_identity(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(buy_and_hold=BH), GOAL, AGENT)
    stored = archive.get(rec.id)
    assert stored.signed and stored.record.buy_and_hold == BH
    with archive.store.connect() as con:
        env_text = con.execute("SELECT envelope FROM archive_records WHERE id = ?", [rec.id]).fetchone()[0]
    assert parse_envelope(env_text).body["buy_and_hold"] == BH
    assert archive.verify(rec.id).ok
    # Other buy-and-hold numbers are another result: another id.
    assert make_record(buy_and_hold={**BH, "total_return": 0.5}).id != rec.id


def test_edited_buy_and_hold_in_the_catalog_or_artifact_is_refused(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(buy_and_hold=BH), GOAL, AGENT)
    with archive.store.connect() as con:
        body, env_text = con.execute("SELECT body, envelope FROM archive_records WHERE id = ?", [rec.id]).fetchone()
    forged_body = json.loads(body)
    forged_body["buy_and_hold"]["total_return"] = 0.01  # make the strategy look better than holding
    env = json.loads(env_text)
    env["body"]["buy_and_hold"]["total_return"] = 0.01
    for column, value in (("body", json.dumps(forged_body)), ("envelope", json.dumps(env))):
        with archive.store.connect() as con:
            original = con.execute(f"SELECT {column} FROM archive_records WHERE id = ?", [rec.id]).fetchone()[0]
            con.execute(f"UPDATE archive_records SET {column} = ? WHERE id = ?", [value, rec.id])
        check = archive.verify(rec.id)
        assert not check.ok, column
        with archive.store.connect() as con:
            con.execute(f"UPDATE archive_records SET {column} = ? WHERE id = ?", [original, rec.id])
    assert archive.verify(rec.id).ok


def test_a_record_without_buy_and_hold_keeps_its_old_id() -> None:
    body = record_body()
    old = {k: v for k, v in make_record().model_dump(mode="json").items()
           if k not in {"state", "holdout", "created_at", "frozen_at", "approval", "closed_at", "buy_and_hold",
                        "artifacts", "significance"}}  # both newer than these ids (artifacts: signed, not identity;
    # significance: the trial-ledger gates, empty here)
    assert make_record().id == content_id("rec", old) == make_record(**body).id


def test_non_finite_buy_and_hold_is_refused() -> None:
    with pytest.raises(ValidationError, match="not finite"):
        make_record(buy_and_hold={**BH, "sharpe": float("nan")})


def test_archive_show_prints_the_signed_buy_and_hold(ws, archive: Archive) -> None:
    import typer
    from typer.testing import CliRunner

    from auraquant.cta.governance.cli import register

    app = typer.Typer()
    register(app)
    with_bh = archive.submit_candidate(make_record(buy_and_hold=BH), GOAL, AGENT)
    without = archive.submit_candidate(make_record(run_id="r_old"), GOAL, AGENT)
    out = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["archive", "show", with_bh.id, "-w", str(ws.root)])
    assert out.exit_code == 0, out.output
    assert "return=13.46" in out.output and "excess return=-12.92" in out.output
    old = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["archive", "show", without.id, "-w", str(ws.root)])
    assert old.exit_code == 0 and "not recorded" in old.output
    shown = json.loads(CliRunner().invoke(app, ["archive", "show", with_bh.id, "-w", str(ws.root), "--json"]).stdout)
    assert shown["record"]["buy_and_hold"] == BH
