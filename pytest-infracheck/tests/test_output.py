"""What a user sees when terraform fails: paths of their own tree, the error only, the log file's path."""

import logging
import re

import pytest

import infracheck as ic

pytest_plugins = ["pytester"]


def test_plan_error_names_the_users_file_and_keeps_the_log(terraform, tmp_path, caplog):
    (tmp_path / "main.tf").write_text(
        'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n\noutput "o" {\n  value = var.missing\n}\n'
    )
    tf = terraform(tmp_path)
    caplog.set_level(logging.INFO, logger="infracheck.terraform")
    tf.init()
    with pytest.raises(ic.TerraformError) as failure:
        tf.plan()
    message = str(failure.value)
    assert f"on {tmp_path}/main.tf line 6" in message, message
    assert "infracheck-" not in message.replace(str(tf.log_path), "")  # no path of the working copy
    log = re.search(r"full terraform output: (\S+)", message).group(1)
    assert open(log).read().count("Initializing") >= 1  # init's output is in the per-test log
    assert "Terraform has been successfully initialized" in caplog.text  # and streamed to the logger
    assert len(message.splitlines()) < 20


def test_failure_report_lists_the_terraform_logs(pytester, stacks):
    pytester.makepyfile(
        test_inner=f"""
        def test_fails(terraform):
            terraform({str(stacks / "root")!r}, emulator=False).init()
            assert False, "after init"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*infracheck: terraform output*", "*infracheck-logs*test_fails-root-0.log"])


def test_retry_and_http_get_until(tmp_path):
    import http.server
    import threading

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("not yet")
        return len(calls)

    assert ic.retry(flaky, timeout=5, interval=0.01, on=KeyError) == 3
    with pytest.raises(ic.RetryError, match="KeyError: 'never'"):
        ic.retry(lambda: {}["never"], timeout=0.2, interval=0.05, on=KeyError)

    class Handler(http.server.BaseHTTPRequestHandler):
        hits = 0

        def do_GET(self):
            Handler.hits += 1
            self.send_response(200 if Handler.hits > 2 else 503)
            self.end_headers()
            self.wfile.write(b"ok ready" if Handler.hits > 2 else b"starting")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/health"
        assert ic.http_get_until(url, 200, "ready", timeout=10, interval=0.05) == (200, "ok ready")
        with pytest.raises(ic.RetryError, match="want 201"):
            ic.http_get_until(url, 201, timeout=0.3, interval=0.05)
    finally:
        server.shutdown()


def test_unique_names(unique_name):
    assert re.fullmatch(r"ic-[a-z0-9]{6}", unique_name)
    assert len({ic.unique_id() for _ in range(50)}) == 50


def test_tracebacks_stop_at_the_users_test(pytester, stacks):
    pytester.makepyfile(
        test_inner=f"""
        import infracheck as ic

        def test_open():
            ic.assert_no_open_ingress(ic.load_stack({str(stacks / "broken")!r}), [6379])
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ic.assert_no_open_ingress*", "E*ports [[]6379[]] must not be open*"])
    assert "assertions.py" not in result.stdout.str()
