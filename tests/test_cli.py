from __future__ import annotations

import json
import os
import shutil
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
    assert (result.returncode, result.stdout.splitlines()[0], result.stderr) == (0, "ok: 0.5 * mse(pred, y)", "")


def test_check_says_how_it_read_the_loss_its_inputs_and_metrics(tmp_path: Path) -> None:
    result = run("check", "recon = mse(pred, y); l1 = mae(pred, y); 0.5*recon + kl")
    assert result.stdout == (
        "ok: recon = mse(pred, y)\n    l1 = mae(pred, y)\n    0.5 * recon + kl\n"
        "  read as: a formula\n  inputs: pred, y, kl\n  metrics (no gradient): l1\n"
    )
    (tmp_path / "loss.yaml").write_text("loss: mse(p, y)\n")
    read = run("check", str(tmp_path / "loss.yaml"))
    assert read.stdout.splitlines()[1] == f"  read as: the config file {tmp_path / 'loss.yaml'}"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("configs/myloss", "configs/myloss: no such file; it is read as a config path", id="path"),
        pytest.param("myloss.yaml", "myloss.yaml: no such file\n", id="ext"),
        pytest.param("configs", "configs: a directory; give a config file", id="directory"),
        pytest.param("configs/", "configs/: a directory; give a config file", id="directory-slash"),
    ],
)
def test_check_refuses_a_path_that_names_no_file(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "configs").mkdir()
    result = run("check", f"{tmp_path}/{target}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path}/{message}")


def test_check_reads_a_division_with_brackets_or_spaces_as_a_formula() -> None:
    assert run("check", "mse(p, y)/2").stdout.startswith("ok: mse(p, y) / 2\n")
    assert run("check", "a / b").stdout.startswith("ok: a / b\n")
    missing = run("check", "myloss.yaml").stderr
    assert missing == "error: myloss.yaml: no such file\n"  # a config's name: no advice about formulas


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full"], ids=["stdout-closed", "stdout-full"])
def test_unwritable_stdout_is_an_error_line_not_a_traceback(redirect: str) -> None:
    command = f"{sys.executable} -m losslang check 'mse(p, y)' {redirect}"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in result.stderr
    if redirect == ">/dev/full":
        assert result.returncode == 1 and result.stderr.startswith("error: cannot write the output: ")


def test_check_formula_error_goes_to_stderr_with_a_caret() -> None:
    result = run("check", "mes(p, y)")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "error: line 1, column 1: unknown function 'mes' (did you mean 'mse'?)\n  mes(p, y)\n  ^\n"
    )


def test_check_config(config: Path) -> None:
    result = run("check", str(config), "--key", "train.loss")
    assert result.returncode == 0 and result.stdout.startswith("ok: recon = mse(pred, y)")


def test_check_bad_config_names_file_line_column_and_caret(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("loss:\n  terms:\n    recon: mse(pred, y))\n")
    result = run("check", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {path}:3:5: loss.terms.recon: line 1, column 13: unexpected ')'; expected ';', a new line or "
        "the end of the formula\n  mse(pred, y))\n              ^\n"
    )


def test_check_missing_config_is_an_error() -> None:
    result = run("check", "missing.yaml")
    assert result.returncode == 1 and "missing.yaml: no such file" in result.stderr


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


def test_explain_lists_parameters_of_an_example_config() -> None:
    result = run("explain", str(ROOT / "examples" / "regression_angle.yaml"))
    assert result.returncode == 0
    assert "inputs: pred <- output, target\n" in result.stdout
    assert "parameters:\n  body.uncertainty_0.log_variance: (2,)\n" in result.stdout
    assert "  weight/angle   in the total\n" in result.stdout


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
    np.savez(tmp_path / "batch.npz", output=np.array([[1.0, 2.0], [3.0, 4.0]]), y=np.zeros((2, 2)))
    result = run("eval", 'e = mse(output, y, reduction="none"); 2*sum(e)', "--inputs", str(tmp_path / "batch.npz"))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "total   60\ne       7.5  (mean of shape (2, 2))\nsum(e)  30\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("junk.npz", b"not an archive", "cannot read {path} as an .npz of arrays", id="npz-junk"),
        pytest.param("junk.pt", b"not a checkpoint", "cannot read {path}: it is not readable", id="pt-junk"),
        pytest.param("nowhere.pt", None, "no inputs file {path}", id="missing"),
    ],
)
def test_eval_bad_inputs_file_is_a_clean_error(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run("eval", "mse(output, y)", "--inputs", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"error: {message.format(path=path)}") and "Traceback" not in result.stderr


def test_eval_list_in_pt_file_is_refused(tmp_path: Path) -> None:
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    result = run("eval", "mse(output, y)", "--inputs", str(tmp_path / "list.pt"))
    assert (
        result.returncode == 1
        and result.stderr == f"error: {tmp_path / 'list.pt'} must hold a dict of tensors, not list\n"
    )


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
    for command in ("check", "explain", "terms", "eval"):
        sub = run(command, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: losslang {command}")
    assert "--format {text,dot,mermaid,json}" in run("explain", "--help").stdout


def test_version() -> None:
    import losslang

    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"losslang {losslang.__version__}\n")


def test_usage_error_says_what_on_stderr() -> None:
    result = run("eval", "mse(p, y)")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.endswith("error: the following arguments are required: --inputs\n")


def test_closed_pipe_is_quiet() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "losslang", "terms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader leaves before the first line, as `| head -0` would
    assert (child.wait(timeout=120), child.stderr.read()) == (141, b"")


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from losslang import cli, commands

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "_check", interrupted)
    try:
        code = cli.main(["check", "mse(p, y)"])
    except KeyboardInterrupt:  # a regression must fail this test, not stop the whole run
        pytest.fail("main() let KeyboardInterrupt through")
    assert code == 130


def test_console_script() -> None:
    script = shutil.which("losslang")
    if script is None:
        pytest.skip("the losslang console script is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([script, "check", "mse(p,y)"], capture_output=True, text=True, env=env, timeout=120)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "ok: mse(p, y)")


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
    assert allowed.returncode == 0 and allowed.stdout.splitlines()[0] == "ok: cube_error(p, y)"


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
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "ok: huberish(p, y, delta=0.5) + mse(p, y)")
    listed = run("check", "huberis(p, y)", path=tmp_path)
    assert "did you mean 'huberish'" in listed.stderr
    terms = run("terms", path=tmp_path)
    assert terms.returncode == 0
    assert "huberish(pred, target, *, delta=1.0)\n    Huber-like loss from a plugin.\n" in terms.stdout


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "losslang-demo-plugin"
version = "1.0"

[project.entry-points."losslang.terms"]
huberish = "demo_plugin:huberish"
learned_scale = "demo_plugin:LearnedScale"

[tool.setuptools]
py-modules = ["demo_plugin"]
"""

PLUGIN_MODULE = '''
import torch


def huberish(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """Huber-like loss from a plugin."""
    return torch.nn.functional.huber_loss(pred, target, delta=delta)


class LearnedScale(torch.nn.Module):
    """A learned scale times the mean squared error."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(init))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.scale * (pred - target).square().mean()
'''


def test_plugin_package_installed_with_pip(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="building the demo plugin offline needs setuptools")
    source, site = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "demo_plugin.py").write_text(PLUGIN_MODULE)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", "--no-deps"]
    installed = subprocess.run([*pip, "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    listed = run("terms", path=site)
    assert "huberish(pred, target, *, delta=1.0)\n    Huber-like loss from a plugin.\n" in listed.stdout
    assert "learned_scale(pred, target, *, init=1.0)\n" in listed.stdout
    torch.save({"p": torch.full((4,), 2.0), "y": torch.zeros(4)}, tmp_path / "batch.pt")
    formula = "huberish(p, y, delta=0.5) + learned_scale(p, y, init=2.0)"
    result = run("eval", formula, "--inputs", str(tmp_path / "batch.pt"), path=site)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "total                          8.875",
        "huberish(p, y, delta=0.5)      0.875",
        "learned_scale(p, y, init=2.0)  8",
    ]


def test_plugin_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import losslang
    from losslang.registry import REGISTRY

    make_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        losslang.compile("mse(p, y)")
        assert "demo_plugin" not in sys.modules  # only a plugin a formula names is imported
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
        (("check", str(tmp_path / "loop.yaml")), 1, "loss: must be a formula or a mapping"),
        (("eval", "mse(p, y)", "--inputs", str(tmp_path / "objects.npz")), 1, "Object arrays cannot be loaded"),
        (("eval", "mse(p, y)", "--inputs", str(tmp_path / "garbage.npz")), 1, "as an .npz of arrays"),
    ]
    for argv, status, message in cases:
        assert main(list(argv)) == status
        captured = capsys.readouterr()
        output = captured.out if status == 0 else captured.err
        assert output.startswith("ok: " if status == 0 else "error: ") and message in output, (argv, output[:200])


@pytest.mark.parametrize("argv", [["plot", ""], ["plot", "."], ["eval", "mse(p, y)", "--inputs", ""], ["check", ""]])
def test_empty_and_odd_paths_are_error_lines(argv: list[str]) -> None:
    result = run(*argv)
    assert (
        result.returncode in (1, 2)
        and "Traceback" not in result.stderr
        and result.stderr.startswith(("error:", "usage:"))
    )


def test_terms_takes_names_and_refuses_unknown_ones() -> None:
    result = run("terms", "mse", "l1")
    assert result.returncode == 0 and result.stdout.splitlines()[0].startswith("mae(pred, target")
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == [
        "mae(pred, target, *, reduction='mean', weight=None, mask=None)  (alias l1)",
        "mse(pred, target, *, reduction='mean', weight=None, mask=None)",
    ]
    unknown = run("terms", "mes")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: no term 'mes' (did you mean 'mse'?)")
    mixed = run("terms", "mse", "hubr", "l1", "mea")  # the names that exist are shown, then the ones that do not
    assert mixed.returncode == 1 and [line for line in mixed.stdout.splitlines() if not line.startswith(" ")] == [
        "mae(pred, target, *, reduction='mean', weight=None, mask=None)  (alias l1)",
        "mse(pred, target, *, reduction='mean', weight=None, mask=None)",
    ]
    assert mixed.stderr.startswith("error: no term 'hubr' (did you mean 'huber'?); no term 'mea' (did you mean")


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["chek", "x"], "(did you mean 'check'?)"),
        (["explain", "mse(p, y)", "--format", "mrmaid"], "(did you mean 'mermaid'?)"),
    ],
)
def test_a_misspelt_command_or_choice_gets_a_did_you_mean(argv: list[str], suggestion: str) -> None:
    result = run(*argv)
    assert result.returncode == 2 and result.stderr.rstrip().endswith(suggestion)


def test_explain_and_eval_speak_json(tmp_path: Path) -> None:
    explained = json.loads(run("explain", "l1 = mae(p, y); mse(p, y)", "--format", "json").stdout)
    assert explained["metrics"] == ["l1"] and explained["inputs"] == ["p", "y"]
    assert {"name": "l1", "role": "metric (no gradient)"} in explained["terms"]
    torch.save({"p": torch.ones(3), "y": torch.zeros(3)}, tmp_path / "batch.pt")
    evaluated = json.loads(run("eval", "mse(p, y)", "--inputs", str(tmp_path / "batch.pt"), "--format", "json").stdout)
    assert evaluated == {"total": {"value": 1.0, "shape": []}, "mse(p, y)": {"value": 1.0, "shape": []}}


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["check"], ["bogus"], ["train", "--epochs", "x", "c.yaml"]]
)
def test_help_version_and_bad_command_lines_answer_without_torch(argv: list[str]) -> None:
    """argparse answers these before any job runs, and the package imports nothing heavy until used."""
    code = f"import sys\nfrom losslang.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    code += "assert 'torch' not in sys.modules, 'torch was imported'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_import_losslang_loads_the_api_on_first_use() -> None:
    code = "import sys, losslang\nassert 'torch' not in sys.modules\nlosslang.compile\nassert 'torch' in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_eval_refuses_inputs_that_need_more_memory_than_their_file(tmp_path: Path) -> None:
    huge = torch.ones(1).expand(3 * 10**8)  # stride 0: the file stores one value, computing on it needs 1.2 GB
    torch.save({"p": huge, "y": huge}, tmp_path / "expanded.pt")
    assert (tmp_path / "expanded.pt").stat().st_size < 10_000
    result = run("eval", "mse(p, y)", "--inputs", str(tmp_path / "expanded.pt"))
    assert result.returncode == 1 and "the inputs take more than 1 GiB once computed on" in result.stderr
    assert "'p' of shape (300000000,) alone is 1.2 GB" in result.stderr
