from __future__ import annotations

from pathlib import Path

from losslang.docs import term_table
from losslang.registry import REGISTRY

DOCS = Path(__file__).parent.parent / "docs" / "terms.md"


def test_docs_table_is_generated_from_the_registry() -> None:
    assert DOCS.read_text() == term_table(), "regenerate with: python -m losslang.docs > docs/terms.md"


def test_every_registered_term_is_documented_with_a_runnable_example() -> None:
    for name, spec in REGISTRY.specs.items():
        doc = spec.fn.__doc__ or ""
        assert spec.summary and spec.summary.endswith("."), name
        assert "Example:\n" in doc and ">>> " in doc, name
        assert f"`{name}`" in term_table()


def test_examples_page_is_generated_from_the_examples() -> None:
    from losslang.docs import EXAMPLES, examples_page

    page = Path(__file__).parent.parent / "docs" / "examples.md"
    assert page.read_text() == examples_page(EXAMPLES), (
        "regenerate: python -m losslang.docs examples > docs/examples.md"
    )
