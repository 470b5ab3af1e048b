"""Parse every module (found by globbing modules/*/) and deploy/ with python-hcl2 (through infracheck)
and check references, module inputs, variable declarations, README tables and the security invariants."""

from __future__ import annotations

import json
import re

import pytest
from project_stacks import DEPLOY_DIR, MODULE_NAMES, MODULES_DIR, STACK_DIRS

import infracheck as ic

IDS = [d.relative_to(d.parents[1]).as_posix() for d in STACK_DIRS]


@pytest.fixture(scope="module")
def deploy():
    return ic.load_stack(DEPLOY_DIR)


@pytest.mark.parametrize("stack_dir", STACK_DIRS, ids=IDS)
def test_every_reference_resolves(stack_dir):
    stack = ic.load_stack(stack_dir)
    problems = stack.unresolved()
    assert not problems, ic.hcl.format_problems(problems, f"{stack_dir} has unresolved references")
    assert stack.references(), "no references found at all: the loader is broken"


def test_modules_are_discovered_and_all_used(deploy):
    # The glob finds the internal module too, and deploy/ reaches every module (directly or through another).
    assert {"vpc", "alb", "asg", "redis", "monitoring", "instance-profile"} <= set(MODULE_NAMES)
    reached = {d.resolve() for d in deploy.local_module_dirs()}
    assert reached == {d.resolve() for d in STACK_DIRS}, f"modules deploy/ does not reach: {set(STACK_DIRS) - reached}"


def test_deploy_passes_every_required_module_input(deploy):
    assert set(deploy.modules) == {"vpc", "alb", "asg", "redis", "monitoring"}
    problems = deploy.module_input_problems()
    assert not problems, ic.hcl.format_problems(problems, "deploy/ module calls do not match the modules")


@pytest.mark.parametrize("stack_dir", STACK_DIRS, ids=IDS)
def test_every_variable_has_type_and_description(stack_dir):
    stack = ic.load_stack(stack_dir)
    problems = stack.variable_problems()
    assert not problems, ic.hcl.format_problems(problems, "variables need a type and a description")
    for block in stack.outputs.values():
        assert (block.body or {}).get("description"), f"{block.where}: {block.address} has no description"


# ---- README tables ---------------------------------------------------------------------------
def _table(readme: str, heading: str) -> list[list[str]]:
    """Rows (cells) of the markdown table under `## <heading>`, header and rule excluded."""
    section = re.search(rf"^## {heading}\s*\n(.*?)(?=^#|^<!--|\Z)", readme, re.M | re.S)
    assert section, f"README has no '## {heading}' section"
    rows = [line.strip() for line in section.group(1).splitlines() if line.strip().startswith("|")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return cells[2:]


def _unticked(cell: str) -> str:
    return cell[1:-1] if cell.startswith("`") and cell.endswith("`") else cell


def _type_text(value) -> str:
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", "", text)


README_DIRS = STACK_DIRS
README_IDS = MODULE_NAMES + ["deploy"]


@pytest.mark.parametrize("module_dir", README_DIRS, ids=README_IDS)
def test_readme_inputs_match_variables(module_dir):
    readme = (module_dir / "README.md").read_text()
    stack = ic.load_stack(module_dir)
    rows = _table(readme, "Inputs")
    assert all(len(r) == 5 for r in rows), (
        f"{module_dir}/README.md: Inputs rows need 5 cells: | name | description | type | default | required |"
    )
    documented = {r[0]: r for r in rows}
    where = f"{module_dir}/README.md"
    assert set(documented) == set(stack.variables), (
        f"{where}: Inputs table out of step with variables.tf: "
        f"missing {sorted(set(stack.variables) - set(documented))}, "
        f"extra {sorted(set(documented) - set(stack.variables))}"
    )
    for var_name, block in stack.variables.items():
        _, description, vtype, default, required = documented[var_name]
        body = block.body
        assert description == body["description"], f"{where}: {var_name}: description differs from {block.where}"
        assert _type_text(_unticked(vtype)) == _type_text(body["type"]), (
            f"{where}: {var_name}: type differs from {block.where}"
        )
        if "default" in body:
            assert required == "no" and default != "n/a", f"{where}: {var_name} has a default, so it is not required"
            assert json.loads(_unticked(default)) == body["default"], (
                f"{where}: {var_name}: default {default} differs from {body['default']!r} ({block.where})"
            )
        else:
            assert (required, default) == ("yes", "n/a"), (
                f"{where}: {var_name} has no default: required yes, default n/a"
            )


@pytest.mark.parametrize("module_dir", README_DIRS, ids=README_IDS)
def test_readme_outputs_match_outputs(module_dir):
    stack = ic.load_stack(module_dir)
    rows = _table((module_dir / "README.md").read_text(), "Outputs")
    documented = {r[0]: r[1] for r in rows}
    assert set(documented) == set(stack.outputs), (
        f"{module_dir}/README.md: Outputs table out of step with outputs.tf: "
        f"missing {sorted(set(stack.outputs) - set(documented))}, extra {sorted(set(documented) - set(stack.outputs))}"
    )
    for out_name, block in stack.outputs.items():
        assert documented[out_name] == block.body.get("description"), (
            f"{module_dir}/README.md: {out_name}: description differs from {block.where}"
        )


def test_tfvars_example_names_only_declared_variables(deploy):
    example = DEPLOY_DIR / "terraform.tfvars.example"
    values = ic.hcl.parse_file(example)
    unknown = sorted(k for k in set(values) - set(deploy.variables) if not k.startswith("__"))  # hcl2 adds __comments__
    assert not unknown, f"{example}: sets undeclared variables {unknown}"
    text = example.read_text()
    # Required inputs must at least be shown (secrets as comments, to be set through TF_VAR_...).
    for name in deploy.required_variables():
        assert re.search(rf"^\s*#?\s*{name}\s*=", text, re.M), f"{example}: required variable {name} not shown"


# ---- security invariants on the HCL ------------------------------------------------------------
def test_redis_port_only_from_the_service_group():
    redis = ic.load_stack(MODULES_DIR / "redis")
    ic.assert_ingress_only_from(redis, 6379, "var.client_security_group_id")
    # deploy/ gives the Redis module the service (ASG) group as its only client.
    client = ic.load_stack(DEPLOY_DIR).modules["redis"].body["client_security_group_id"]
    assert client == "${module.asg.security_group_id}", f"deploy/main.tf: module.redis client group is {client}"


def test_service_port_only_from_the_alb_group():
    asg = ic.load_stack(MODULES_DIR / "asg")
    ic.assert_ingress_only_from(asg, 8000, "var.alb_security_group_id")
    assert ic.load_stack(DEPLOY_DIR).modules["asg"].body["alb_security_group_id"] == "${module.alb.security_group_id}"


def test_no_ssh_or_redis_open_to_the_internet(deploy):
    ic.assert_no_open_ingress(ic.resources(deploy, recursive=True), [22, 6379])


def test_alb_health_check_path():
    ic.assert_health_check_path(ic.load_stack(MODULES_DIR / "alb"), "/health")
    # deploy/'s load balancer routes only to instances whose dependencies answer.
    assert ic.load_stack(DEPLOY_DIR).modules["alb"].body.get("health_check_path") == "/health/ready"


def test_imdsv2_and_encryption_everywhere(deploy):
    everything = ic.resources(deploy, recursive=True)
    assert ic.resources(everything, "aws_launch_template", "aws_instance"), "no instances found"
    ic.assert_imdsv2_required(everything)
    ic.assert_volumes_encrypted(everything)


def test_every_taggable_resource_is_tagged(deploy):
    ic.assert_tags_present(ic.resources(deploy, recursive=True))


def test_asg_defaults_are_1_3_2(deploy):
    for stack in (ic.load_stack(MODULES_DIR / "asg"), deploy):
        sizes = {k: stack.variables[k].body.get("default") for k in ("min_size", "max_size", "desired_capacity")}
        assert sizes == {"min_size": 1, "max_size": 3, "desired_capacity": 2}, f"{stack.path}: {sizes}"
    asg = ic.load_stack(MODULES_DIR / "asg")
    assert asg.variables["health_check_type"].body["default"] == "EC2"
    (group,) = asg.resources_of("aws_autoscaling_group")
    assert group.body["health_check_type"] == "${var.health_check_type}", group.where
    assert deploy.modules["asg"].body["health_check_type"] == "EC2"
