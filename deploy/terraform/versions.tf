# imgorigin on AWS: CloudFront → ALB → ECS Fargate (origin and workers), ElastiCache Redis, S3
# (originals, variants, results), SQS (jobs, notifications, S3 events, each with a dead-letter
# queue), SNS, IAM, CloudWatch Logs. docs/deploy.md explains it; variables.tf documents every input.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws    = { source = "hashicorp/aws", version = ">= 5.40" }
    random = { source = "hashicorp/random", version = ">= 3.5" }
  }
}

locals {
  name = var.name
  tags = merge({ "app" = "imgorigin" }, var.tags)
  # One place for the bucket names; S3 needs them globally unique, hence the prefix variable.
  buckets = {
    originals = "${var.bucket_prefix}-originals"
    variants  = "${var.bucket_prefix}-variants"
    results   = "${var.bucket_prefix}-results"
  }
  container_port = 8080
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
