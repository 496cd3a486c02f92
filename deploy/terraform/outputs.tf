output "cloudfront_domain_name" {
  description = "The distribution's host name (CNAME your aliases to it)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "cloudfront_distribution_id" {
  description = "For invalidations: aws cloudfront create-invalidation --distribution-id … --paths …"
  value       = aws_cloudfront_distribution.this.id
}

output "alb_dns_name" {
  description = "The ALB (answers CloudFront only)."
  value       = aws_lb.this.dns_name
}

output "buckets" {
  description = "Bucket names by role: originals, variants, results."
  value       = { for role, bucket in aws_s3_bucket.this : role => bucket.bucket }
}

output "queue_urls" {
  description = "SQS queue URLs by role (jobs, notify, events) and their dead-letter queues."
  value = {
    queues       = { for role, q in aws_sqs_queue.this : role => q.url }
    dead_letters = { for role, q in aws_sqs_queue.dlq : role => q.url }
  }
}

output "sns_topic_arn" {
  description = "Topic imgorigin publishes image and job events to."
  value       = aws_sns_topic.events.arn
}

output "redis_endpoint" {
  description = "ElastiCache primary endpoint (IMGORIGIN_REDIS_URL host)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "task_role_arn" {
  description = "Role imgorigin runs as; give the AWS Batch job definition the same (deploy/aws-batch)."
  value       = aws_iam_role.task.arn
}

output "log_group" {
  description = "CloudWatch log group of every task."
  value       = aws_cloudwatch_log_group.this.name
}
