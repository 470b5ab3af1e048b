from pathlib import Path

import pytest

STACKS = Path(__file__).parent / "stacks"


@pytest.fixture
def stacks() -> Path:
    return STACKS
