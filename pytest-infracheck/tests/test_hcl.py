"""The loader: blocks, references, module inputs, and errors that name file and line."""

import pytest

from infracheck import HclError, load_stack


def test_loads_every_kind_of_block(stacks):
    root = load_stack(stacks / "root")
    assert set(root.variables) == {"region"}
    assert set(root.locals) == {"tags"}
    assert set(root.modules) == {"web"}
    assert set(root.outputs) == {"web_security_group_id", "client_security_group_id"}
    assert [p.name for p in root.providers] == ["aws"]
    module = root.module("web")
    assert set(module.resources) == {
        "aws_vpc.this",
        "aws_security_group.client",
        "aws_security_group.web",
        "aws_vpc_security_group_ingress_rule.web_from_client",
    }
    assert module.required_variables() == {"name"}
    assert module.resources["aws_security_group.web"].line == 39


def test_good_stack_resolves_everything(stacks):
    root = load_stack(stacks / "root")
    targets = {ref.target for ref in root.references()}
    assert {"var.region", "local.tags", "module.web"} <= targets
    assert root.unresolved() == []
    assert root.module_input_problems() == []
    assert root.module("web").unresolved() == []
    root.check()


def test_broken_stack_names_file_line_and_block(stacks):
    broken = load_stack(stacks / "broken")
    main = stacks / "broken" / "main.tf"
    messages = [str(p) for p in broken.unresolved()]
    assert f"{main}:15: aws_launch_template.app: reference var.ami_id does not resolve" in "\n".join(messages)
    assert any(
        m.startswith(f"{main}:17: aws_launch_template.app: reference aws_security_group.app.id")
        or m.startswith(f"{main}:17: aws_launch_template.app: reference aws_security_group.app ")
        for m in messages
    ), messages
    inputs = [str(p) for p in broken.module_input_problems()]
    assert inputs == [
        f"{main}:24: module.web: required input 'name' of {(stacks / 'modules/web_sg').resolve()} is not passed"
    ]
    assert [str(p) for p in broken.variable_problems()] == [f"{main}:20: var.name: variable has no description"]
    with pytest.raises(AssertionError, match="var.ami_id does not resolve"):
        broken.check()


def test_module_output_must_exist(tmp_path, stacks):
    (tmp_path / "main.tf").write_text(
        f'module "web" {{\n  source = "{stacks}/modules/web_sg"\n  name = "x"\n}}\n'
        'output "x" {\n  value = module.web.no_such_output\n}\n'
    )
    # An absolute source is not a local path: it is not followed, so nothing is reported about it.
    assert load_stack(tmp_path).unresolved() == []
    (tmp_path / "sub").mkdir()
    (tmp_path / "modules").symlink_to(stacks / "modules")
    (tmp_path / "sub" / "main.tf").write_text(
        'module "web" {\n  source = "../modules/web_sg"\n  name = "x"\n}\n'
        'output "x" {\n  value = module.web.no_such_output\n}\n'
    )
    problems = [str(p) for p in load_stack(tmp_path / "sub").unresolved()]
    assert len(problems) == 1 and "sub/main.tf:6: output.x: reference module.web.no_such_output" in problems[0]
    assert "has no output 'no_such_output'" in problems[0]


def test_loop_variables_and_strings_are_not_references(tmp_path):
    (tmp_path / "main.tf").write_text(
        'variable "names" {\n  type = list(string)\n  description = "d"\n}\n'
        'locals {\n  upper = [for aws_name in var.names : aws_name.x]\n  text = "aws_vpc.main is prose"\n}\n'
    )
    stack = load_stack(tmp_path)
    assert {r.target for r in stack.references()} == {"var.names"}
    assert stack.locals["upper"].line == 6


def test_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "ok.tf").write_text('variable "a" {\n  type = string\n}\n')
    (tmp_path / "bad.tf").write_text('resource "aws_vpc" "x" {\n  cidr_block = \n}\n')
    with pytest.raises(HclError, match=rf"{tmp_path}/bad.tf:2:\d+: cannot parse HCL"):
        load_stack(tmp_path)


def test_duplicate_block_is_an_error(tmp_path):
    (tmp_path / "a.tf").write_text('variable "a" {\n  type = string\n}\n')
    (tmp_path / "b.tf").write_text('\nvariable "a" {\n  type = string\n}\n')
    with pytest.raises(HclError, match=r"b.tf:2: var.a is declared twice \(first at .*a.tf:1\)"):
        load_stack(tmp_path)


def test_syntax_error_is_one_clear_message(tmp_path):
    (tmp_path / "main.tf").write_text('locals {\n  a = [1, 2\n}\n')
    with pytest.raises(HclError) as failure:
        load_stack(tmp_path)
    message = str(failure.value)
    assert message.startswith(f"{tmp_path}/main.tf:3:1: cannot parse HCL: unexpected '}}' (expected one of COMMA")
    assert failure.value.__cause__ is None and failure.value.__context__ is None  # no lark KeyError behind it
