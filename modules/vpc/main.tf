# Only read when azs is empty.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Used only when azs is empty; the result is sliced to the first N zones by name, so a zone AWS adds later does not move subnets. Pass azs to pin zones explicitly.
  state = "available"
}

locals {
  subnet_count = max(length(var.public_subnets), length(var.private_subnets))
  azs          = length(var.azs) > 0 ? var.azs : slice(data.aws_availability_zones.available.names, 0, min(local.subnet_count, length(data.aws_availability_zones.available.names)))
  nat_count    = var.enable_nat_gateway ? (var.single_nat_gateway ? 1 : length(var.public_subnets)) : 0
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# No ingress and no egress blocks: the default group denies everything, so nothing lands in it by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = length(var.public_subnets)

  vpc_id            = aws_vpc.this.id
  cidr_block        = var.public_subnets[count.index]
  availability_zone = element(local.azs, count.index)
  # Only the load balancer and NAT gateways live here; neither needs an automatic public IP.
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-public-${element(local.azs, count.index)}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count = length(var.private_subnets)

  vpc_id            = aws_vpc.this.id
  cidr_block        = var.private_subnets[count.index]
  availability_zone = element(local.azs, count.index)

  tags = merge(var.tags, { Name = "${var.name}-private-${element(local.azs, count.index)}", Tier = "private" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet_gateway" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = length(var.public_subnets)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })

  depends_on = [aws_internet_gateway.this]
}

# One route table per private subnet, so "one NAT per AZ" only changes the route target.
resource "aws_route_table" "private" {
  count = length(var.private_subnets)

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${element(local.azs, count.index)}" })
}

resource "aws_route" "private_nat_gateway" {
  count = var.enable_nat_gateway ? length(var.private_subnets) : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  # With one NAT per AZ, private subnet i uses the NAT of public subnet i (wrapping if there are fewer).
  nat_gateway_id = element(aws_nat_gateway.this[*].id, var.single_nat_gateway ? 0 : count.index)
}

resource "aws_route_table_association" "private" {
  count = length(var.private_subnets)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# ---------------------------------------------------------------------------
# Optional flow logs to CloudWatch Logs
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow_log" {
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (flow_log_kms_key_arn); CloudWatch Logs encrypts at rest by default.
  count = var.enable_flow_log ? 1 : 0

  name              = "/aws/vpc-flow-log/${var.name}"
  retention_in_days = var.flow_log_retention_in_days
  kms_key_id        = var.flow_log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-flow-log" })
}

data "aws_iam_policy_document" "flow_log_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow_log" {
  count = var.enable_flow_log ? 1 : 0

  name_prefix        = "${substr(var.name, 0, 20)}-flow-log-"
  assume_role_policy = data.aws_iam_policy_document.flow_log_assume.json

  tags = merge(var.tags, { Name = "${var.name}-flow-log" })
}

data "aws_iam_policy_document" "flow_log" {
  count = var.enable_flow_log ? 1 : 0

  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow_log[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_log" {
  count = var.enable_flow_log ? 1 : 0

  name   = "flow-log-delivery"
  role   = aws_iam_role.flow_log[0].id
  policy = data.aws_iam_policy_document.flow_log[0].json
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_log ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = var.flow_log_traffic_type
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_log[0].arn
  iam_role_arn         = aws_iam_role.flow_log[0].arn

  tags = merge(var.tags, { Name = var.name })
}
