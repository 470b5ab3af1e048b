"""Terratest-style checks for Terraform stacks in Python: see docs/infracheck.md."""

from .assertions import (
    assert_health_check_path,
    assert_imdsv2_required,
    assert_ingress_only_from,
    assert_no_open_ingress,
    assert_tags_present,
    assert_volumes_encrypted,
    encryption_problems,
    health_check_problems,
    imdsv2_problems,
    ingress_only_from_problems,
    ingress_rules,
    open_ingress_problems,
    resources,
    tag_problems,
)
from .emulator import MotoServer
from .hcl import Block, HclError, Problem, Reference, Stack, load_stack
from .hosts import chroot_host, ssh_host
from .plan import Plan, Resource
from .terraform import Terraform, TerraformError, plugin_dir, working_copy

__all__ = [
    "Block",
    "HclError",
    "MotoServer",
    "Plan",
    "Problem",
    "Reference",
    "Resource",
    "Stack",
    "Terraform",
    "TerraformError",
    "assert_health_check_path",
    "assert_imdsv2_required",
    "assert_ingress_only_from",
    "assert_no_open_ingress",
    "assert_tags_present",
    "assert_volumes_encrypted",
    "chroot_host",
    "encryption_problems",
    "health_check_problems",
    "imdsv2_problems",
    "ingress_only_from_problems",
    "ingress_rules",
    "load_stack",
    "open_ingress_problems",
    "plugin_dir",
    "resources",
    "ssh_host",
    "tag_problems",
    "working_copy",
]
