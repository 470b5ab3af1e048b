"""S3, SQS and IAM assertions, each with a problem twin, on HCL and on a plan."""

import pytest

import infracheck as ic

CHECKS = [
    (ic.assert_s3_encrypted, ic.s3_encryption_problems),
    (ic.assert_s3_versioned, ic.s3_versioning_problems),
    (ic.assert_s3_public_access_blocked, ic.s3_public_access_problems),
    (ic.assert_sqs_dead_letter_queue, ic.sqs_dead_letter_problems),
    (ic.assert_no_iam_wildcards, ic.iam_wildcard_problems),
]

EXPECTED_BAD = {
    "s3_encryption_problems": ["aws_s3_bucket.data: no default encryption"],
    "s3_versioning_problems": ["aws_s3_bucket.data: versioning status is 'Suspended', want 'Enabled'"],
    "s3_public_access_problems": [
        "aws_s3_bucket_public_access_block.data: block_public_policy is False, want true (bucket aws_s3_bucket.data)"
    ],
    "sqs_dead_letter_problems": ["aws_sqs_queue.jobs: no dead-letter queue"],
    "iam_wildcard_problems": ['aws_iam_policy.admin: policy allows action "*" on resource "*" (Sid Everything)'],
}
BAD_LINES = {  # where each problem points in storage_bad/main.tf
    "s3_encryption_problems": 17,
    "s3_versioning_problems": 17,
    "s3_public_access_problems": 28,
    "sqs_dead_letter_problems": 36,
    "iam_wildcard_problems": 40,
}


def _check(problems_of, target, main):
    found = [str(p) for p in problems_of(target)]
    want = EXPECTED_BAD[problems_of.__name__]
    assert len(found) == len(want), found
    for got, expected in zip(found, want, strict=True):
        assert got.startswith(f"{main}:{BAD_LINES[problems_of.__name__]}: {expected}"), got


@pytest.mark.parametrize(("check", "problems_of"), CHECKS, ids=[c[1].__name__ for c in CHECKS])
def test_hcl_twins(stacks, check, problems_of):
    check(ic.load_stack(stacks / "storage"))
    bad = ic.load_stack(stacks / "storage_bad")
    with pytest.raises(AssertionError):
        check(bad)
    _check(problems_of, bad, stacks / "storage_bad/main.tf")


@pytest.fixture(scope="module")
def storage(module_terraform, stacks_dir):
    # A name of its own: a module-scoped and a function-scoped apply must not collide in one emulator.
    tf = module_terraform(stacks_dir / "storage", variables={"name": f"ic-{ic.unique_id()}"})
    return tf, tf.init_and_plan()


@pytest.fixture(scope="module")
def plans(storage, module_terraform, stacks_dir):
    return storage[1], module_terraform(stacks_dir / "storage_bad").init_and_plan()


@pytest.mark.parametrize(("check", "problems_of"), CHECKS, ids=[c[1].__name__ for c in CHECKS])
def test_plan_twins(plans, stacks_dir, check, problems_of):
    good, bad = plans
    check(good)
    with pytest.raises(AssertionError):
        check(bad)
    _check(problems_of, bad, stacks_dir / "storage_bad/main.tf")


def test_policy_that_cannot_be_evaluated_fails_closed(tmp_path):
    (tmp_path / "main.tf").write_text(
        'variable "policy" {\n  type = string\n}\n'
        'resource "aws_iam_policy" "p" {\n  name = "p"\n  policy = var.policy\n}\n'
    )
    (problem,) = [str(p) for p in ic.iam_wildcard_problems(ic.load_stack(tmp_path))]
    assert "main.tf:6: aws_iam_policy.p: cannot evaluate policy at main.tf:6" in problem


def test_apply_is_idempotent_and_read_back(storage, aws_client):
    tf, _ = storage
    tf.apply()
    assert "Apply complete!" in tf.last_output
    bucket = tf.output("bucket")
    assert aws_client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    attributes = aws_client("sqs").get_queue_attributes(QueueUrl=tf.output("queue_url"), AttributeNames=["All"])
    assert "deadLetterTargetArn" in attributes["Attributes"]["RedrivePolicy"]
    # The emulator gives JSON policies back with other spacing: not drift.
    second = ic.assert_idempotent(tf)
    assert ic.drift(second) == {}


def test_drift_names_attributes_that_really_change():
    before = {"policy": '{"a": 1, "b": [1, 2]}', "name": "q", "tags": None}
    plan = ic.Plan(
        {
            "resource_changes": [
                {
                    "address": "aws_sqs_queue.q",
                    "mode": "managed",
                    "change": {
                        "actions": ["update"],
                        "before": before,
                        "after": {"policy": '{"b":[1,2],"a":1}', "name": "r", "tags": {}},
                        "after_unknown": {},
                    },
                },
                {"address": "data.aws_region.x", "mode": "data", "change": {"actions": ["read"]}},
            ]
        },
        ".",
    )
    assert ic.drift(plan) == {"aws_sqs_queue.q": ["name: 'q' -> 'r'"]}
    assert plan.actions() == {"aws_sqs_queue.q": ["update"]}
