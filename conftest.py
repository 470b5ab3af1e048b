"""Root fixtures: real servers (redis-server, a MongoDB wire server, the service under uvicorn), each on
a random loopback port, started for the tests and stopped after them. Helpers live in tests/support/."""

from __future__ import annotations

import os

import pytest

from tests.support.servers import ServiceFactory, start_mongo, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A throwaway redis-server; `.stop()` / `.start()` it to simulate an outage (it comes back empty)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    """MongoDB over TCP: nx-27017 on a random port, or the server that MONGO_TEST_URI names (then
    outage tests that stop the server are skipped)."""
    if os.environ.get("MONGO_TEST_URI"):
        yield None
        return
    server = start_mongo(tmp_path_factory.mktemp("mongo"))
    yield server
    server.stop()


@pytest.fixture
def start_service(tmp_path, redis_server, mongo_server):
    factory = ServiceFactory(tmp_path, redis_server, mongo_server)
    yield factory
    factory.stop_all()
