# An EC2 instance profile for this repository's machines: CloudWatch agent, optional Session Manager,
# and read access to the SSM parameters the machine needs at boot (SecureStrings decrypted via SSM only).
# Called by modules/asg and modules/redis; not part of the public module set.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = "${substr(var.name, 0, 30)}-"
  description        = var.description
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  count = var.enable_ssm_session_manager ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "parameters" {
  count = length(var.ssm_parameter_arns) > 0 ? 1 : 0

  statement {
    sid       = "ReadParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = var.ssm_parameter_arns
  }

  statement {
    sid       = "DecryptSecureStrings"
    actions   = ["kms:Decrypt"]
    resources = var.ssm_kms_key_arn != null ? [var.ssm_kms_key_arn] : ["arn:${local.partition}:kms:${local.region}:${local.account}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "parameters" {
  count = length(var.ssm_parameter_arns) > 0 ? 1 : 0

  name   = var.parameters_policy_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.parameters[0].json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${substr(var.name, 0, 30)}-"
  role        = aws_iam_role.this.name

  tags = merge(var.tags, { Name = var.name })
}
