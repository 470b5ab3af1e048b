from pathlib import Path

import pytest

STACKS = Path(__file__).parent / "stacks"


@pytest.fixture
def stacks() -> Path:
    return STACKS


@pytest.fixture(scope="session")
def stacks_dir() -> Path:
    return STACKS
