from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart_fits_the_line_and_reports_every_term(capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLES / "quickstart.py"))["main"]
    weight, bias, metrics = main(steps=300)
    assert weight == pytest.approx(2.0, abs=0.1) and bias == pytest.approx(2.5, abs=0.7)
    assert list(metrics) == ["total", "fit", "mae(pred, y1)", "mae(pred, y2)", "mean(mae(pred, y1), mae(pred, y2))"]
    assert "fit = mse(pred, y1)" in capsys.readouterr().out
