"""Paths and inputs of the project's stacks, shared by the infra checks (not a conftest: importable by name)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO / "modules"
DEPLOY_DIR = REPO / "deploy"
MODULE_NAMES = ["vpc", "alb", "asg", "redis", "monitoring"]
STACK_DIRS = [MODULES_DIR / name for name in MODULE_NAMES] + [DEPLOY_DIR]

# Inputs of deploy/ for the emulator: throwaway secrets, and a load balancer that may be destroyed.
DEPLOY_VARS = {
    "mongo_connection_string": "mongodb://ocr:not-a-secret@127.0.0.1:27017/ocr",
    "redis_password": "not-a-secret-0123456789",
    "alb_deletion_protection": False,
}

# The images the stack looks up by tag (what the Packer builds set): registered in the emulator.
AMI_TAGS = {
    "ocr": {"Application": "ocr-service", "Role": "ocr"},
    "redis": {"Application": "ocr-service", "Role": "redis"},
}


def register_images(ec2) -> dict[str, str]:
    """Register one tagged image per role in the emulator, as the Packer builds would; returns their ids."""
    ids = {}
    for role, tags in AMI_TAGS.items():
        image = ec2.register_image(
            Name=f"ocr-service-{role}-test",
            RootDeviceName="/dev/xvda",
            Architecture="x86_64",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        ec2.create_tags(Resources=[image["ImageId"]], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        ids[role] = image["ImageId"]
    return ids
