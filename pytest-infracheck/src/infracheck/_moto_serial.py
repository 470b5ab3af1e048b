"""`python -m infracheck._moto_serial -H HOST -p PORT`: moto_server handling one request at a time.

moto's backends are not thread-safe: under terraform's parallel calls the threaded server now and
then loses a write (seen: "revoking default IPv4 egress rule ... InvalidPermission.NotFound",
"Cannot exceed quota for InstanceSessionsPerInstanceProfile"). Connections keep their threads (a
single-threaded server would stall on any idle keep-alive connection), but requests take turns
through one lock; each takes milliseconds, so the cost is not noticeable.
"""

import sys
import threading

import moto.server

_run_simple = moto.server.run_simple


def _one_at_a_time(app):
    lock = threading.Lock()

    def locked(environ, start_response):
        with lock:
            return list(app(environ, start_response))  # the whole body is built under the lock

    return locked


def _run_simple_locked(hostname, port, application, *args, **kwargs):
    return _run_simple(hostname, port, _one_at_a_time(application), *args, **kwargs)


moto.server.run_simple = _run_simple_locked

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
