"""Fixtures of the project's infra checks (the infracheck plugin provides terraform, aws_emulator, ...)."""

from __future__ import annotations

import consumer_run as consumer_runner
import pytest
from project_stacks import STACK_DIRS

CONSUMER_TESTS = "test_consumer_example.py"


def pytest_collection_modifyitems(config, items):
    # The consumer run starts with the session and overlaps everything else: read its verdict last.
    items.sort(key=lambda item: item.path.name == CONSUMER_TESTS)


@pytest.fixture(scope="session", autouse=True)
def consumer_run_started(request):
    """Start examples/consumer's suite in the background when this session will read it."""
    wanted = any(item.path.name == CONSUMER_TESTS for item in request.session.items)
    run = consumer_runner.start() if wanted else None
    yield run
    if run is not None:
        consumer_runner.stop(run)
        run.log.close()


@pytest.fixture(scope="session")
def consumer_run(consumer_run_started):
    return consumer_run_started


@pytest.fixture(scope="session")
def stack_dirs():
    return STACK_DIRS
