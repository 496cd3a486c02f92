# S3: originals (uploads and what S3 events announce), variants (eager presets as plain objects),
# results (the S3 result tier, expired by a lifecycle rule on its prefix). All private, encrypted.
resource "aws_s3_bucket" "this" {
  for_each = local.buckets
  bucket   = each.value
  tags     = local.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.this["results"].id
  rule {
    id     = "expire-results"
    status = "Enabled"
    filter { prefix = var.result_prefix }
    expiration { days = var.result_expiration_days }
    abort_incomplete_multipart_upload { days_after_initiation = 1 }
  }
}

# SQS: the job queue, the notifications queue and the queue S3 announces new originals to
# (jobs.sqs_*), each with a dead-letter queue that holds what failed maxReceiveCount times.
locals {
  queues = {
    jobs   = { visibility = 120, max_receive = 5 }
    notify = { visibility = 60, max_receive = 8 }
    events = { visibility = 60, max_receive = 5 }
  }
}

resource "aws_sqs_queue" "dlq" {
  for_each                  = local.queues
  name                      = "${local.name}-${each.key}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "this" {
  for_each                   = local.queues
  name                       = "${local.name}-${each.key}"
  visibility_timeout_seconds = each.value.visibility
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive
  })
  tags = local.tags
}

data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "S3ObjectEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["events"].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.this["originals"].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.this["events"].id
  policy    = data.aws_iam_policy_document.events_queue.json
}

resource "aws_s3_bucket_notification" "originals" {
  bucket = aws_s3_bucket.this["originals"].id
  queue {
    queue_arn = aws_sqs_queue.this["events"].arn
    events    = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
  }
  depends_on = [aws_sqs_queue_policy.events]
}

# SNS: image.ready, image.failed, image.deleted, job.dead_lettered (notifications.sns_topic_arn).
resource "aws_sns_topic" "events" {
  name              = "${local.name}-events"
  kms_master_key_id = "alias/aws/sns"
  tags              = local.tags
}

# ElastiCache Redis: the shared result tier, purge generations and render leases.
resource "aws_elasticache_subnet_group" "redis" {
  name       = "${local.name}-redis"
  subnet_ids = var.private_subnet_ids
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "${local.name}-cache"
  description                = "imgorigin shared result tier"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = var.redis_replicas > 0
  multi_az_enabled           = var.redis_replicas > 0
  parameter_group_name       = "default.redis7"
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  # imgorigin speaks redis:// (no TLS) to the tier: keep Redis in private subnets only.
  transit_encryption_enabled = false
  tags                       = local.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}
