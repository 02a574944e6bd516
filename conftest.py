"""Every test and doctest starts from the built-in registry and leaves it as it found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from losslang.registry import snapshot


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    with snapshot():
        yield
