"""Fixtures of the project's infra checks (the infracheck plugin provides terraform, aws_emulator, ...)."""
from __future__ import annotations

import pytest

from project_stacks import STACK_DIRS


@pytest.fixture(scope="session")
def stack_dirs():
    return STACK_DIRS
