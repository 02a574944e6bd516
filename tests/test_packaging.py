"""The packaging and README promises: the grammar ships in the wheel, types are marked, torch is pinned, CI runs
the README's test command, the README's language example means what its comments say."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import losslang

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the promises do not depend on the Python running them

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_wheel_ships_the_grammar_and_the_type_marker() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert PYPROJECT["build-system"]["build-backend"] == "hatchling.build"
    assert wheel["packages"] == ["losslang"] and (ROOT / "losslang" / "py.typed").is_file()
    assert wheel["force-include"] == {
        "grammar/losslang.lark": "losslang/grammar/losslang.lark",
        "examples": "losslang/examples",  # docs pages use them from a normal install too
    }


def test_examples_are_found_where_the_wheel_puts_them(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "losslang", site / "losslang", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "examples", site / "losslang" / "examples")
    spec = importlib.util.spec_from_file_location("installed_docs", site / "losslang" / "docs.py")
    assert spec is not None and spec.loader is not None
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    assert site / "losslang" / "examples" == installed.EXAMPLES


def test_parser_finds_the_grammar_where_the_wheel_puts_it(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"  # an installed wheel: the grammar inside the package, no grammar/ beside it
    shutil.copytree(ROOT / "losslang", site / "losslang", ignore=shutil.ignore_patterns("__pycache__"))
    shipped = site / PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["grammar/losslang.lark"]
    shipped.parent.mkdir()
    shutil.copy(ROOT / "grammar" / "losslang.lark", shipped)
    spec = importlib.util.spec_from_file_location("installed_parser", site / "losslang" / "parser.py")
    assert spec is not None and spec.loader is not None
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    assert installed.grammar_path() == shipped
    assert str(installed.parse("mse(a,b)")) == "mse(a, b)"


def test_constraints_pin_the_cpu_torch() -> None:
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if not line.startswith("#")]
    assert "torch==2.13.0" in pins


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = readme.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert "-c constraints.txt" in command and "pytest" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_language_example_means_what_its_comments_say() -> None:
    readme = (ROOT / "README.md").read_text()
    loss = losslang.compile(readme.split("## The language at a glance", 1)[1].split("```", 2)[1])
    assert loss.term_names[:3] == ("recon", "angle", "l1") and "w" not in loss.term_names
    assert loss.metric_names == ("l1",)  # "named but unused by the total: a metric"


def test_readme_mixed_precision_loop_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Mixed precision", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # running the README is the test


def test_the_namespace_is_the_public_api() -> None:
    import losslang

    assert dir(losslang) == sorted([*losslang.__all__, "__version__"])
    for name in losslang.__all__:
        assert getattr(losslang, name).__doc__, name


def test_submodules_are_attributes_of_the_package_as_before_the_lazy_import() -> None:
    code = "import losslang\nassert losslang.bounds.Range and losslang.weighting.RLW and losslang.terms.BUILTINS\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_suite_passes_from_a_clone_in_a_folder_named_losslang(tmp_path: Path) -> None:
    # `git clone` names the folder losslang: the tests that tell the library's frames from the tests' must not
    # read that name as the package.
    clone = tmp_path / "losslang"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".git", "__pycache__", "runs", ".*cache", "*.egg-info"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_check.py", "-k", "frames"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    probe = subprocess.run(
        [sys.executable, "-c", "import losslang; print(losslang.__file__)"], cwd=clone, capture_output=True, text=True
    )
    assert probe.stdout.strip().startswith(str(clone)), probe.stdout  # the copy's package was the one tested
