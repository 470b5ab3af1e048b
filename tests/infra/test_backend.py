"""deploy/backend.tf.example: an encrypted, locked S3 backend. Parsed, then used for real against
moto_server's S3: a small stack's state lands in the bucket encrypted with the given KMS key, and a
held lock file stops another run."""

from __future__ import annotations

import json
import shutil

import pytest
from project_stacks import DEPLOY_DIR

import infracheck as ic

EXAMPLE = DEPLOY_DIR / "backend.tf.example"
STATE_KEY = "ocr-service/test.tfstate"


def test_example_is_an_encrypted_locked_s3_backend():
    (block,) = ic.hcl.parse_file(EXAMPLE)["terraform"]
    (backend,) = block["backend"]
    s3 = backend["s3"]
    assert s3["encrypt"] is True and s3["use_lockfile"] is True
    assert s3["kms_key_id"].startswith("arn:aws:kms:"), "state encrypted with a customer-managed key"
    assert {"bucket", "key", "region"} <= set(s3)


@pytest.fixture
def backend_stack(tmp_path, terraform, aws_emulator):
    """A one-resource stack using the example backend, its placeholders overridden for the emulator."""
    s3, kms = aws_emulator.client("s3"), aws_emulator.client("kms")
    bucket = f"state-{tmp_path.name.lower().replace('_', '-')}"[:63]
    s3.create_bucket(Bucket=bucket)
    key_arn = kms.create_key(Description="terraform state")["KeyMetadata"]["Arn"]
    stack = tmp_path / "stack"
    stack.mkdir()
    shutil.copy(EXAMPLE, stack / "backend.tf")
    (stack / "main.tf").write_text('resource "terraform_data" "marker" {\n  input = "state written"\n}\n')
    settings = {
        "bucket": bucket,
        "key": STATE_KEY,
        "region": aws_emulator.region,
        "kms_key_id": key_arn,
        "endpoints": {"s3": aws_emulator.endpoint},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
    }
    lines = [f"{k} = {json.dumps(v) if not isinstance(v, dict) else _hcl_map(v)}" for k, v in settings.items()]
    (stack / "emulator.s3.tfbackend").write_text("\n".join(lines) + "\n")
    tf = terraform(stack, emulator=False, env=aws_emulator.env())
    tf.run("init", "-input=false", "-no-color", "-backend-config=emulator.s3.tfbackend")
    return tf, s3, bucket, key_arn


def _hcl_map(values: dict) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + " }"


def test_state_is_encrypted_with_the_kms_key(backend_stack):
    tf, s3, bucket, key_arn = backend_stack
    tf.run("apply", "-input=false", "-no-color", "-auto-approve")
    head = s3.head_object(Bucket=bucket, Key=STATE_KEY)
    assert head["ServerSideEncryption"] == "aws:kms", head
    assert head["SSEKMSKeyId"].endswith(key_arn.rsplit("/", 1)[-1]), head
    state = json.loads(s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read())
    assert [r["type"] for r in state["resources"]] == ["terraform_data"]
    # The lock file is gone once the run is over.
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == [STATE_KEY]


def test_a_held_lock_stops_another_run(backend_stack):
    tf, s3, bucket, _ = backend_stack
    lock = {"ID": "held-by-a-test", "Operation": "OperationTypeApply", "Who": "someone@elsewhere"}
    s3.put_object(Bucket=bucket, Key=f"{STATE_KEY}.tflock", Body=json.dumps(lock).encode())
    result = tf.run("plan", "-input=false", "-no-color", "-lock-timeout=1s", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr  # where terraform writes the error depends on how it runs
    assert "Error acquiring the state lock" in output and "held-by-a-test" in output, output
