# What this repository's machines share: the image lookup and an EC2 instance profile (CloudWatch
# agent, optional Session Manager, read access to exactly the SSM parameters the machine needs at
# boot, SecureStrings decrypted through SSM only). Called by modules/asg and modules/redis, each
# keeping its own public inputs; not part of the public module set.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Used only when no ami_id is given: the newest image the Packer build tagged.
data "aws_ami" "this" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = var.ami_owners

  dynamic "filter" {
    for_each = var.ami_name_filter == null ? [] : [var.ami_name_filter]
    content {
      name   = "name"
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_tags
    content {
      name   = "tag:${filter.key}"
      values = [filter.value]
    }
  }

  filter {
    name   = "state"
    values = ["available"]
  }
}

locals {
  ami_id    = var.ami_id != null ? var.ami_id : data.aws_ami.this[0].id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id

  # Parameter names may or may not start with a slash; the ARN needs exactly one.
  parameter_arns = [
    for name in var.ssm_parameter_names :
    "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(name, "/")}"
  ]
  writable_parameter_arns = [
    for name in var.ssm_writable_parameter_names :
    "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(name, "/")}"
  ]
  # A NotResource list may not be empty: an ARN no parameter has stands for "none".
  no_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/-none-"

  # Without a customer-managed key the parameters use the AWS-managed aws/ssm key, whose ARN is not
  # known in advance: any key of the account, but only for requests SSM makes on the role's behalf.
  kms_key_arns = var.ssm_kms_key_arn != null ? [var.ssm_kms_key_arn] : ["arn:${local.partition}:kms:${local.region}:${local.account}:key/*"]
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
  dynamic "statement" {
    for_each = length(local.parameter_arns) > 0 ? [1] : []
    content {
      sid       = "ReadOwnParameters"
      actions   = ["ssm:GetParameter", "ssm:GetParameters"]
      resources = local.parameter_arns
    }
  }

  # Managed policies (AmazonSSMManagedInstanceCore, CloudWatchAgentServerPolicy) grant
  # ssm:GetParameter* on every parameter; an explicit Deny outranks them, so the role reads its own
  # parameters and nothing else whatever else is attached to it.
  statement {
    sid           = "DenyOtherParameters"
    effect        = "Deny"
    actions       = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
    not_resources = length(local.parameter_arns) > 0 ? local.parameter_arns : [local.no_parameter_arn]
  }

  # What the machine publishes for others (a public certificate, say): written to these parameters
  # only, never to a secret of the stack, whatever a managed policy allows.
  dynamic "statement" {
    for_each = length(local.writable_parameter_arns) > 0 ? [1] : []
    content {
      sid       = "PublishOwnParameters"
      actions   = ["ssm:PutParameter"]
      resources = local.writable_parameter_arns
    }
  }

  statement {
    sid           = "DenyWritingOtherParameters"
    effect        = "Deny"
    actions       = ["ssm:PutParameter", "ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:LabelParameterVersion", "ssm:UnlabelParameterVersion"]
    not_resources = length(local.writable_parameter_arns) > 0 ? local.writable_parameter_arns : [local.no_parameter_arn]
  }

  dynamic "statement" {
    for_each = length(local.parameter_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecureStrings"
      actions   = ["kms:Decrypt"]
      resources = local.kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "parameters" {
  name   = var.parameters_policy_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.parameters.json
}

# The policy used to exist only when the machine read parameters.
moved {
  from = aws_iam_role_policy.parameters[0]
  to   = aws_iam_role_policy.parameters
}

# CloudWatchAgentServerPolicy allows cloudwatch:PutMetricData in any namespace; the explicit Deny
# narrows it to the machine's own, whatever else is attached. (The service's queue metrics reach
# CloudWatch as embedded metric format log events, through the agent's logs permissions.)
data "aws_iam_policy_document" "metrics" {
  statement {
    sid       = "DenyOtherMetricNamespaces"
    effect    = "Deny"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringNotLike"
      variable = "cloudwatch:namespace"
      values   = var.metric_namespaces
    }
  }
}

resource "aws_iam_role_policy" "metrics" {
  name   = "publish-own-metrics"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.metrics.json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${substr(var.name, 0, 30)}-"
  role        = aws_iam_role.this.name

  tags = merge(var.tags, { Name = var.name })
}
