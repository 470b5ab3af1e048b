"""Paths and inputs of the project's stacks, shared by the infra checks (not a conftest: importable by name)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO / "modules"
DEPLOY_DIR = REPO / "deploy"
# Every module folder, public or internal: a new module is checked without being listed here.
MODULE_NAMES = sorted(p.name for p in MODULES_DIR.glob("*/") if p.is_dir() and any(p.glob("*.tf")))
STACK_DIRS = [MODULES_DIR / name for name in MODULE_NAMES] + [DEPLOY_DIR]

# Inputs of deploy/ for the emulator: throwaway secrets, a MongoDB address range, and a load balancer
# that may be destroyed. TLS: the tests add a certificate from the emulator's ACM, or allow_plain_http.
DEPLOY_VARS = {
    "mongo_connection_string": "mongodb://ocr:not-a-secret@127.0.0.1:27017/ocr?tls=true",
    "redis_password": "not-a-secret-0123456789",
    "api_key": "not-a-secret-api-key-0123456789abcdef",
    "mongo_cidr_blocks": ["192.0.2.0/24"],
    "alb_deletion_protection": False,
}
SECRETS = [DEPLOY_VARS["mongo_connection_string"], DEPLOY_VARS["redis_password"], DEPLOY_VARS["api_key"]]


def request_certificate(acm) -> str:
    """An ACM certificate in the emulator (what a real deployment gets from ACM for its domain)."""
    return acm.request_certificate(DomainName="ocr.example.com", ValidationMethod="DNS")["CertificateArn"]


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
