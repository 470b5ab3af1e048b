# Deliberately broken: a Redis group open to the internet, a missing variable, a dangling reference.
resource "aws_security_group" "redis" {
  name = "redis"

  ingress {
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_launch_template" "app" {
  name_prefix            = var.name
  image_id               = var.ami_id
  instance_type          = "t3.micro"
  vpc_security_group_ids = [aws_security_group.app.id]
}

variable "name" {
  type = string
}

module "web" {
  source = "../modules/web_sg"
  port   = 80
}
