"""Every ```python block in docs/*.md runs, in order, one fresh namespace per file.

A block marked ```python no-run needs what CI cannot install (the Hugging Face recipe): it is
only compiled. The distributed page runs as one gloo process, with the variables torchrun sets.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import torch.distributed as dist

# Every topic page; the generated pages (tests/test_docs.py) have no code to run.
GENERATED = ("terms.md", "examples.md")
DOCS = sorted(path for path in (Path(__file__).parent.parent / "docs").glob("*.md") if path.name not in GENERATED)
TORCHRUN_ENV = {"MASTER_ADDR": "127.0.0.1", "RANK": "0", "WORLD_SIZE": "1"}  # one process, loopback only
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[bool, str]]:
    """``(runs, code)`` per block, the code padded with newlines so tracebacks give the .md line."""
    text = path.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(2))
        found.append(("no-run" not in match.group(1).split(), "\n" * line + match.group(2)))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_docs_exist() -> None:
    assert {"integrations.md", "distributed.md"} <= {path.name for path in DOCS}


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")  # Lightning vs torch 2.13
@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_python_blocks_run(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code = [text for runs, text in blocks(path) if runs]
    assert code, f"{path.name} has no python block"
    if any("import lightning" in text for text in code):
        pytest.importorskip("lightning")
    for name, value in {**TORCHRUN_ENV, "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs.{path.stem}"}
    try:
        for text in code:
            exec(compile(text, str(path), "exec"), namespace)  # running the docs is the test
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_only_the_hugging_face_recipe_is_not_run(path: Path) -> None:
    for runs, text in blocks(path):
        compile(text, str(path), "exec")  # even a block that is not run must be valid Python
        assert runs or "transformers" in text
