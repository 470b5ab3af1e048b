"""`python -m infracheck._moto_serial -H HOST -p PORT`: moto_server answering one request at a time.

moto's backends are not thread-safe: under terraform's parallel calls the threaded server now and
then loses a write (seen: "revoking default IPv4 egress rule ... InvalidPermission.NotFound",
"Cannot exceed quota for InstanceSessionsPerInstanceProfile"). Each request takes milliseconds,
so serving them in turn costs nothing noticeable. A non-threaded werkzeug server speaks HTTP/1.0,
closing each connection, so no client can hold the server.
"""
import sys

import moto.server


def _run_simple_serial(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


_run_simple = moto.server.run_simple
moto.server.run_simple = _run_simple_serial

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
