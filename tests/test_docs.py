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


def test_the_readme_term_table_names_registered_terms() -> None:
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("| kind | terms |\n|---|---|\n")[1].split("\n\n")[0]
    known = {name for spec in REGISTRY.specs.values() for name in (spec.name, *spec.aliases)}
    named = {match for row in table.splitlines() for match in re.findall(r"`(\w+)", row.split("|")[2])}
    assert len(named) > 50 and named <= known, sorted(named - known)
