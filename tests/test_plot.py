from __future__ import annotations

import os
from pathlib import Path

import pytest

import losslang
from losslang.cli import main as cli_main
from losslang.plot import plot_run, read_run


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.csv"
    path.write_text(text)
    return path


def test_read_run_returns_every_column_as_floats(tmp_path: Path) -> None:
    path = write(tmp_path, "step,epoch,total,weight/a\n0,0,2.5,1\n1,0,-1.5,0.5\n")
    assert read_run(path) == {"step": [0.0, 1.0], "epoch": [0.0, 0.0], "total": [2.5, -1.5], "weight/a": [1.0, 0.5]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "is not a losslang run: it needs a header with a 'step' column", id="empty"),
        pytest.param("total\n1\n", "is not a losslang run: it needs a header with a 'step' column", id="no-step"),
        pytest.param("step,total\n0,lots\n", "has a value that is not a number: could not convert", id="text"),
    ],
)
def test_a_file_that_is_not_a_run_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(losslang.LossConfigError, match=message):
        read_run(path)


@pytest.mark.parametrize("columns", ["total,mse", "total,mse,weight/mse"], ids=["terms", "terms-and-weights"])
def test_plot_run_writes_a_png(tmp_path: Path, columns: str) -> None:
    pytest.importorskip("matplotlib")
    values = ",".join(["1"] * len(columns.split(",")))
    path = write(tmp_path, f"step,epoch,{columns}\n0,0,{values}\n1,0,{values}\n")
    png = plot_run(path, tmp_path / "run.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binary_csv_missing_folder_and_unknown_extension_are_config_errors(tmp_path: Path) -> None:
    binary = tmp_path / "run.csv"
    binary.write_bytes(b"\x00\xff\xfe\x00step")
    with pytest.raises(losslang.LossConfigError, match=r"cannot read .*"):
        plot_run(binary, tmp_path / "run.png")
    good = tmp_path / "good.csv"
    good.write_text("step,epoch,total\n0,0,2.5\n1,0,1.5\n")
    with pytest.raises(losslang.LossConfigError, match="cannot write the plot to"):
        plot_run(good, tmp_path / "missing" / "run.png")
    with pytest.raises(losslang.LossConfigError, match="cannot write the plot to"):
        plot_run(good, tmp_path / "run.xyz")


def test_a_device_or_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "run.csv"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        with pytest.raises(losslang.LossConfigError, match="it is not a regular file"):
            read_run(path)


def _run(folder: Path, rows: int, scale: float) -> Path:
    folder.mkdir()
    lines = ["step,epoch,total,recon,l1,val/total,weight/recon"]
    lines += [
        f"{i},0,{scale * (10 - i) + 1},{scale * (5 - i / 2) + 1},{3 - i / 10},{scale * (11 - i) + 1},{1 + i / 10}"
        for i in range(rows)
    ]
    (folder / "run.csv").write_text("\n".join(lines) + "\n")
    (folder / "run.json").write_text('{"config": "demo", "metrics": ["l1"]}')
    return folder / "run.csv"


def test_plot_overlays_runs_picks_terms_and_draws_metrics_dashed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    first, second = _run(tmp_path / "a", 10, 1.0), _run(tmp_path / "b", 10, 2.0)
    shown: list = []
    original = plt.close
    plt.close = lambda figure: shown.append(figure)  # keep the figure to look at it
    try:
        png = plot_run([first, second], tmp_path / "both.png")
    finally:
        plt.close = original
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    terms, weights = shown[0].axes
    labels = [line.get_label() for line in terms.get_lines() if not line.get_label().startswith("_")]
    assert labels == [f"{run}: {name}" for run in ("a", "b") for name in ("total", "recon", "l1", "val/total")]
    styles = {line.get_label(): line.get_linestyle() for line in terms.get_lines()}
    assert styles["a: l1"] == "--" and styles["a: val/total"] == ":" and styles["a: recon"] == "-"
    assert terms.get_ylabel() == "loss value (log scale)" and terms.get_title() == "demo vs demo: terms"
    assert [line.get_label() for line in weights.get_lines() if not line.get_label().startswith("_")] == [
        "a: weight/recon",
        "b: weight/recon",
    ]
    assert len(terms.get_lines()) == 2 * len(labels)  # each smoothed curve has its raw values faint behind it


def test_plot_terms_and_linear_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    csv_path = _run(tmp_path / "a", 5, 1.0)
    assert cli_main(["plot", str(csv_path), "--terms", "recon", "--linear", "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").stat().st_size > 0
    with pytest.raises(losslang.LossConfigError, match="no run has a term 'recn' \\(did you mean 'recon'\\?\\)"):
        plot_run(csv_path, terms=["recn"])


@pytest.mark.parametrize("axis", ["step", "epoch"])
def test_step_and_epoch_are_axes_not_terms(tmp_path: Path, axis: str) -> None:
    pytest.importorskip("matplotlib")
    csv_path = _run(tmp_path / "a", 5, 1.0)
    with pytest.raises(losslang.LossConfigError) as caught:
        plot_run(csv_path, terms=[axis])
    assert f"no run has a term {axis!r}" in str(caught.value)
    offered = str(caught.value).split("they have ", 1)[1]
    assert "step" not in offered.split(", ") and "epoch" not in offered.split(", ")
