from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parent.parent


def run(*args: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(path or ""), str(ROOT)]))}
    return subprocess.run(
        [sys.executable, "-m", "losslang", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "loss.yaml"
    path.write_text(
        textwrap.dedent(
            """
            train:
              loss:
                inputs: {pred: output}
                terms:
                  recon: mse(pred, y)
                metrics:
                  l1: mae(pred, y)
                total: 0.5*recon
            """
        )
    )
    return path


def test_check_formula_ok() -> None:
    result = run("check", "0.5*mse(pred,y)")
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 0.5 * mse(pred, y)\n", "")


def test_check_formula_error_goes_to_stderr_with_a_caret() -> None:
    result = run("check", "mes(p, y)")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "error: line 1, column 1: unknown function 'mes' (did you mean 'mse'?)\n  mes(p, y)\n  ^\n"
    )


def test_check_config(config: Path) -> None:
    result = run("check", str(config), "--key", "train.loss")
    assert result.returncode == 0 and result.stdout.startswith("ok: recon = mse(pred, y)")


def test_check_missing_config_is_an_error() -> None:
    result = run("check", "missing.yaml")
    assert result.returncode == 1 and "cannot read missing.yaml" in result.stderr


def test_explain_text(config: Path) -> None:
    result = run("explain", str(config), "--key", "train.loss")
    assert result.returncode == 0
    out = result.stdout
    for section in (
        "formula:",
        "inputs: pred <- output, y",
        "terms:",
        "parameters: none",
        "term tree:",
        "generated code:",
    ):
        assert section in out
    assert "l1     metric (no gradient)" in out and "def forward(self, pred, y)" in out


@pytest.mark.parametrize(("fmt", "first"), [("dot", "digraph loss {"), ("mermaid", "graph LR")])
def test_explain_graph_formats(fmt: str, first: str) -> None:
    result = run("explain", "recon = mse(p, y); 2*recon", "--format", fmt)
    assert result.returncode == 0 and result.stdout.splitlines()[0] == first
    assert "recon" in result.stdout and "total" in result.stdout


def test_terms_lists_signatures() -> None:
    result = run("terms")
    assert result.returncode == 0
    assert "mse(pred, target, *, reduction='mean', weight=None, mask=None)" in result.stdout
    assert "(alias l1)" in result.stdout


def test_eval_pt_and_npz(config: Path, tmp_path: Path) -> None:
    batch = {"output": torch.tensor([1.0, 2.0]), "y": torch.tensor([0.0, 0.0])}
    torch.save(batch, tmp_path / "batch.pt")
    result = run("eval", str(config), "--key", "train.loss", "--inputs", str(tmp_path / "batch.pt"))
    assert result.returncode == 0
    assert result.stdout.split("\n")[:3] == ["total  1.25", "recon  2.5", "l1     1.5"]
    np = pytest.importorskip("numpy")
    np.savez(tmp_path / "batch.npz", output=np.array([1.0, 2.0]), y=np.zeros(2))
    result = run("eval", "mse(output, y)", "--inputs", str(tmp_path / "batch.npz"))
    assert result.returncode == 0 and result.stdout.startswith("total")


def test_eval_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    torch.save({"output": torch.ones(2)}, tmp_path / "batch.pt")
    result = run("eval", "mse(output, y)", "--inputs", str(tmp_path / "batch.pt"))
    assert result.returncode == 1 and "missing input 'y'" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("bogus").returncode == 2
    assert run("explain", "mse(p, y)", "--format", "png").returncode == 2


def test_help() -> None:
    result = run("--help")
    assert result.returncode == 0 and "check" in result.stdout and "explain" in result.stdout


def test_imports_need_the_flag(tmp_path: Path) -> None:
    (tmp_path / "cube_terms.py").write_text(
        "import torch, losslang\n"
        "@losslang.register('cube_error')\n"
        "def cube_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
        "    '''Mean cubed absolute error.'''\n"
        "    return (pred - target).abs().pow(3).mean()\n"
    )
    (tmp_path / "loss.yaml").write_text("loss:\n  imports: [cube_terms]\n  total: cube_error(p, y)\n")
    refused = run("check", str(tmp_path / "loss.yaml"), path=tmp_path)
    assert refused.returncode == 1 and "pass allow_imports=True (CLI: --allow-imports)" in refused.stderr
    allowed = run("check", str(tmp_path / "loss.yaml"), "--allow-imports", path=tmp_path)
    assert allowed.returncode == 0 and allowed.stdout == "ok: cube_error(p, y)\n"


def make_plugin(root: Path) -> None:
    """A package 'installed' into root: its module and a dist-info with an entry point."""
    (root / "demo_plugin.py").write_text(
        "import torch\n"
        "def huberish(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:\n"
        "    '''Huber-like loss from a plugin.'''\n"
        "    return torch.nn.functional.huber_loss(pred, target, delta=delta)\n"
    )
    info = root / "demo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[losslang.terms]\nhuberish = demo_plugin:huberish\n")


def test_plugin_registers_through_the_entry_point(tmp_path: Path) -> None:
    make_plugin(tmp_path)
    result = run("check", "huberish(p, y, delta=0.5) + mse(p, y)", path=tmp_path)
    assert (result.returncode, result.stdout) == (0, "ok: huberish(p, y, delta=0.5) + mse(p, y)\n")
    listed = run("check", "huberis(p, y)", path=tmp_path)
    assert "did you mean 'huberish'" in listed.stderr


def test_plugin_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import losslang
    from losslang.registry import REGISTRY

    make_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        loss = losslang.compile("huberish(p, y)")
        expected = torch.nn.functional.huber_loss(torch.ones(2) * 3, torch.zeros(2))
        torch.testing.assert_close(loss(p=torch.ones(2) * 3, y=torch.zeros(2)).total, expected)
    finally:
        REGISTRY.specs.pop("huberish", None)


def test_hostile_command_lines_end_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In process (an exception escaping main would fail the test), one case per input the command reads."""
    from losslang.cli import main

    np = pytest.importorskip("numpy")
    np.savez(tmp_path / "objects.npz", p=np.array([{"a": 1}], dtype=object))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    (tmp_path / "loop.yaml").write_text("loss: &a [*a]\n")
    long_name = "y" * 5000  # too long for a file name: is_file() raises rather than says no
    cases = [
        (("check", f"mse(p, {long_name})"), 0, f"ok: mse(p, {long_name})"),
        (("check", str(tmp_path / "loop.yaml")), 1, "invalid YAML: found an alias to itself"),
        (("eval", "mse(p, y)", "--inputs", str(tmp_path / "objects.npz")), 1, "Object arrays cannot be loaded"),
        (("eval", "mse(p, y)", "--inputs", str(tmp_path / "garbage.npz")), 1, "with numpy.load: ValueError"),
    ]
    for argv, status, message in cases:
        assert main(list(argv)) == status
        captured = capsys.readouterr()
        output = captured.out if status == 0 else captured.err
        assert output.startswith("ok: " if status == 0 else "error: ") and message in output, (argv, output[:200])
