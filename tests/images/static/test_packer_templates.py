"""The Packer templates (never executed here: no packer binary, no AWS), checked as HCL: both parse;
they share their variables and build instance through common.pkr.hcl and set only what is their
own; the source, variables, tags and provisioners are what the images need; every script and file
they name exists; and the provisioning scripts are shellcheck-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[3]
PACKER = REPO / "packer"
TEMPLATES = {"ocr": PACKER / "ami_ocr.pkr.hcl", "redis": PACKER / "ami_redis.pkr.hcl"}
COMMON = PACKER / "common.pkr.hcl"
IMAGE_VARIABLE = {"ocr": "ocr_image", "redis": "redis_image"}
ROLE_SCRIPT = {"ocr": "install-ocr-host.sh", "redis": "install-redis-host.sh"}


def load_hcl(path: Path) -> dict:
    with open(path) as f:
        return hcl2.load(f, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False))


def configuration(role: str) -> dict:
    """What Packer loads for one build: common.pkr.hcl and the role's template (one directory)."""
    common, own = load_hcl(COMMON), load_hcl(TEMPLATES[role])
    merged = {key: common.get(key, []) + own.get(key, []) for key in ("packer", "variable", "locals", "source")}
    merged["build"] = own["build"]
    return merged


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def template(request):
    role = request.param
    return role, configuration(role)


def blocks(doc: dict, kind: str) -> dict:
    """{name: body} of `kind "name" {...}` blocks (python-hcl2 gives a list of one-key dicts)."""
    return {name: body for block in doc.get(kind, []) for name, body in block.items()}


def source(doc: dict) -> dict:
    """The build's source: the shared amazon-ebs source with what the build sets on it."""
    sources = blocks(doc, "source")
    assert list(sources) == ["amazon-ebs"], "one amazon-ebs source"
    ((name, shared),) = sources["amazon-ebs"].items()
    (own,) = build(doc)["source"]
    reference, fields = next(iter(own.items()))
    assert reference == f"amazon-ebs.{name}", reference
    overlap = shared.keys() & fields.keys()
    assert not overlap, f"a build may only set what the shared source leaves open: {overlap}"
    return {**shared, **fields}


def local(doc: dict, name: str):
    (value,) = [block[name] for block in doc["locals"] if name in block]
    return value


def build(doc: dict) -> dict:
    (body,) = doc["build"]
    return body


def provisioners(doc: dict) -> list[tuple[str, dict]]:
    return [(kind, body) for block in build(doc)["provisioner"] for kind, body in block.items()]


def local_path(reference: str) -> Path:
    assert reference.startswith("${path.root}/"), f"{reference}: paths are relative to the template"
    return PACKER / reference.removeprefix("${path.root}/")


def test_shared_variables_and_source_live_in_one_file():
    """Each template declares only its own variables and sets only its own source fields; the
    rest is common.pkr.hcl's. No name is declared twice (Packer would refuse the directory)."""
    common = load_hcl(COMMON)
    shared = set(blocks(common, "variable"))
    assert {"region", "instance_type", "version", "volume_size", "kms_key_id", "subnet_id"} <= shared
    declared = [name for path in TEMPLATES.values() for name in blocks(load_hcl(path), "variable")]
    assert len(declared) == len(set(declared)) and not shared & set(declared), declared
    locals_ = [n for path in [COMMON, *TEMPLATES.values()] for b in load_hcl(path)["locals"] for n in b if n[0] != "_"]
    assert len(locals_) == len(set(locals_)), locals_
    for path in TEMPLATES.values():
        own = load_hcl(path)
        assert "source" not in own and "packer" not in own, f"{path.name} repeats what common.pkr.hcl holds"
    builds = [load_hcl(path)["build"][0]["name"] for path in TEMPLATES.values()]
    assert len(set(builds)) == 2  # `packer build -only='<name>.*' .` picks one


def test_both_templates_parse_and_need_the_amazon_plugin(template):
    _, doc = template
    (plugins,) = doc["packer"][0]["required_plugins"]
    assert plugins["amazon"]["source"] == "github.com/hashicorp/amazon"


def test_variables_are_typed_described_and_cover_the_build_inputs(template):
    role, doc = template
    variables = blocks(doc, "variable")
    assert {"region", "instance_type", IMAGE_VARIABLE[role], "version"} <= variables.keys()
    for name, body in variables.items():
        assert body.get("type") and body.get("description"), f"variable {name} needs a type and a description"
    if role == "redis":
        assert {"redis_maxmemory", "redis_maxmemory_policy"} <= variables.keys()


def test_source_is_amazon_linux_2023_from_amazon(template):
    _, doc = template
    body = source(doc)
    (ami_filter,) = body["source_ami_filter"]
    assert ami_filter["owners"] == ["amazon"]
    assert ami_filter["most_recent"] is True
    assert re.fullmatch(r"al2023-ami-2023\.\*-x86_64", ami_filter["filters"]["name"])
    assert body["region"] == "${var.region}"
    assert body["instance_type"] == "${var.instance_type}"
    assert "${var.version}" in body["ami_name"]


def test_source_encrypts_and_requires_imdsv2(template):
    _, doc = template
    body = source(doc)
    assert body["encrypt_boot"] is True
    (root_volume,) = body["launch_block_device_mappings"]
    assert root_volume["encrypted"] is True and root_volume["device_name"] == "/dev/xvda"
    assert body["imds_support"] == "v2.0"
    (metadata,) = body["metadata_options"]
    assert metadata["http_tokens"] == "required"
    # Containers reach IMDS through the Docker bridge: one hop more than the host.
    assert metadata["http_put_response_hop_limit"] == 2


def test_ami_tags_match_the_modules_lookup(template):
    """modules/asg and modules/redis look the AMI up by tags; the build must set the same ones."""
    role, doc = template
    tags = local(doc, f"{role}_ami_tags")
    assert source(doc)["tags"] == f"${{local.{role}_ami_tags}}"
    assert source(doc)["snapshot_tags"] == f"${{local.{role}_ami_tags}}"
    module = {"ocr": "asg", "redis": "redis"}[role]
    variables_tf = REPO / "modules" / module / "variables.tf"
    if variables_tf.exists():
        lookup = blocks(load_hcl(variables_tf), "variable")["ami_tags"]["default"]
    else:  # the module's documented default
        lookup = {"Application": "ocr-service", "Role": role}
    assert lookup.items() <= tags.items(), f"AMI tags {tags} lack the {module} module's lookup {lookup}"
    assert tags["Version"] == "${var.version}"


def test_ami_names_do_not_overlap():
    names = [source(configuration(role))["ami_name"].split("${")[0] for role in TEMPLATES]
    assert not any(a != b and b.startswith(a) for a in names for b in names), names


def test_provisioners_upload_then_provision_then_test_then_clean(template):
    role, doc = template
    kinds = [kind for kind, _ in provisioners(doc)]
    assert kinds == ["shell", "file", "shell", "shell-local", "shell"]
    steps = provisioners(doc)
    upload = steps[1][1]
    assert [local_path(p).name for p in upload["sources"]] == ["scripts", "files"]
    assert upload["destination"] == "/tmp/provision/"
    install = steps[2][1]
    assert [local_path(p).name for p in install["scripts"]] == [
        "install-docker.sh",
        "install-cloudwatch-agent.sh",
        ROLE_SCRIPT[role],
    ]
    env = dict(item.split("=", 1) for item in install["environment_vars"])
    assert env["PROVISION_DIR"] == "/tmp/provision"
    assert env["IMAGE_ROLE"] == role
    assert env["PULL_IMAGES"] == f"${{var.{IMAGE_VARIABLE[role]}}}"
    assert env["OCR_IMAGE" if role == "ocr" else "REDIS_IMAGE"] == f"${{var.{IMAGE_VARIABLE[role]}}}"
    assert install["execute_command"].startswith("chmod +x {{ .Path }}; sudo env {{ .Vars }}")


def test_image_tests_run_over_ssh_before_the_ami_is_made(template):
    role, doc = template
    (test_step,) = [body for kind, body in provisioners(doc) if kind == "shell-local"]
    assert local_path(test_step["script"]).name == "run-image-tests.sh"
    env = dict(item.split("=", 1) for item in test_step["environment_vars"])
    assert env["IMAGE_ROLE"] == role
    assert env["IMAGE_HOST"] == "${build.Host}"
    assert env["IMAGE_SSH_KEY"] == "${build.SSHPrivateKey}"
    assert local_path(env["REPO_ROOT"]).resolve() == REPO
    assert (REPO / "tests/images/suite").is_dir()


def test_manifest_post_processor(template):
    role, doc = template
    (post,) = build(doc)["post-processor"]
    manifest = post["manifest"]
    assert manifest["custom_data"]["role"] == role
    assert "build/" in manifest["output"]


def test_every_path_a_provisioner_names_exists(template):
    _, doc = template
    named = []
    for _, body in provisioners(doc):
        named += body.get("scripts", []) + body.get("sources", [])
        named += [body[key] for key in ("script", "source") if key in body]
    assert named
    for reference in named:
        assert local_path(reference).exists(), f"{reference} does not exist"


def test_every_file_a_script_installs_exists():
    """install_file / install_default_file name paths under packer/files/."""
    scripts = sorted((PACKER / "scripts").glob("*.sh"))
    found = 0
    for script in scripts:
        text = script.read_text()
        for match in re.finditer(r"^\s*install(?:_default)?_file\s+\"?([^\s\"]+)", text, re.M):
            reference = match.group(1)
            if reference.startswith("cloudwatch/$role"):
                targets = [PACKER / "files/cloudwatch" / f"{role}.json" for role in TEMPLATES]
            elif "$" in reference:
                continue  # the function's own definition
            else:
                targets = [PACKER / "files" / reference]
            for target in targets:
                found += 1
                assert target.is_file(), f"{script.name} installs missing {target}"
    assert found >= 10
    # The files sed renders rather than installs.
    for rendered in ("redis/redis.conf", "cloudwatch/ocr.json", "cloudwatch/redis.json"):
        assert (PACKER / "files" / rendered).is_file()


def test_redis_policy_choices_agree_between_template_and_script():
    variables = blocks(configuration("redis"), "variable")
    (validation,) = variables["redis_maxmemory_policy"]["validation"]
    template_choices = set(re.findall(r'"([a-z-]+)"', validation["condition"].split("[", 1)[1].split("]")[0]))
    script = (PACKER / "scripts/install-redis-host.sh").read_text()
    script_choices = set(re.search(r"^\s+(noeviction[^)]*)\)", script, re.M).group(1).replace(" ", "").split("|"))
    assert template_choices == script_choices
    assert variables["redis_maxmemory_policy"]["default"] in template_choices
    assert not any(choice.startswith("allkeys") for choice in template_choices), "would evict queued jobs"


SHELL_SCRIPTS = sorted((PACKER / "scripts").glob("*.sh")) + sorted((PACKER / "files/bin").iterdir())


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(PACKER)))
def test_script_is_shellcheck_clean(script):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make test installs Debian's shellcheck)"
    result = subprocess.run([shellcheck, "--external-sources", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The boot contract between the images and the modules' user data (docs/images.md).
BOOT_CONTRACT = {
    "ocr": {"module": "asg", "etc": "/etc/ocr-service", "unit": "ocr-service.service"},
    "redis": {"module": "redis", "etc": "/etc/ocr-redis", "unit": "ocr-redis.service"},
}


@pytest.mark.parametrize("role", sorted(BOOT_CONTRACT))
def test_user_data_writes_what_the_unit_reads(role):
    contract = BOOT_CONTRACT[role]
    user_data = (REPO / "modules" / contract["module"] / "templates/user_data.sh.tftpl").read_text()
    unit = (PACKER / "files/systemd" / contract["unit"]).read_text()
    for name in ("service.env", "ssm-parameters"):
        path = f"{contract['etc']}/{name}"
        assert f"> {path}" in user_data, f"modules/{contract['module']} user data does not write {path}"
        assert path in unit, f"{contract['unit']} does not read {path}"
    assert f"systemctl restart {contract['unit']}" in user_data
    # Drop-ins user data writes must be ones the baked config includes.
    for drop_in in re.findall(r"> (/etc/ocr-redis/conf\.d/[^\s]+\.conf)", user_data):
        assert "include /etc/ocr-redis/conf.d/*.conf" in (PACKER / "files/redis/redis.conf").read_text(), drop_in
    # No secret value in user data: only parameter names (the unit fetches values at every start).
    assert "get-parameter" not in user_data


def test_last_step_removes_build_leftovers(template):
    role, doc = template
    kind, cleanup = provisioners(doc)[-1]
    commands = " ; ".join(cleanup["inline"])
    assert kind == "shell" and "rm -rf /tmp/provision" in commands
    data, logs = {
        "ocr": ("/var/lib/ocr-service", "/var/log/ocr-service"),
        "redis": ("/var/lib/ocr-redis", "/var/log/ocr-redis"),
    }[role]
    assert f"find {logs} {data} -mindepth 1 -delete" in commands
    if role == "redis":  # a TLS key made while the tests ran must not be baked into every instance
        assert "rm -rf /tmp/provision /run/ocr-redis /var/lib/ocr-redis-tls" in commands
