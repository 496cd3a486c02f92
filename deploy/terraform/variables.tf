variable "name" {
  description = "Name of every resource (ECS cluster, services, queues, roles …); lowercase letters, digits and hyphens."
  type        = string
  default     = "imgorigin"
}

variable "bucket_prefix" {
  description = "Prefix of the three S3 bucket names (<prefix>-originals, -variants, -results); must make them globally unique."
  type        = string
}

variable "image" {
  description = "Container image of imgorigin (built from deploy/Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgorigin:1.0.0."
  type        = string
}

variable "vpc_id" {
  description = "VPC the ALB, the tasks and Redis run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the ALB (at least two zones)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the ECS tasks and ElastiCache (at least two zones, with a NAT or VPC endpoints for S3, SQS, SNS, ECR and CloudWatch Logs)."
  type        = list(string)
}

variable "signing_secret_arn" {
  description = "ARN of a Secrets Manager secret holding JSON {\"IMGORIGIN_KEY\":\"hex\",\"IMGORIGIN_SALT\":\"hex\",\"IMGORIGIN_API_KEY\":\"…\"}; the tasks get these variables from it."
  type        = string
}

variable "records_secret_arn" {
  description = "ARN of a Secrets Manager secret whose value is the PostgreSQL connection string of the image records (IMGORIGIN_RECORDS); \"\" keeps SQLite records inside each task (a single task only)."
  type        = string
  default     = ""
}

variable "origin_cpu" {
  description = "CPU units of one origin task (1024 = one vCPU); renders are CPU-bound, see docs/deploy.md sizing."
  type        = number
  default     = 2048
}

variable "origin_memory" {
  description = "Memory (MiB) of one origin task: result cache, source cache and concurrent renders."
  type        = number
  default     = 4096
}

variable "origin_min_count" {
  description = "Fewest origin tasks (autoscaling floor); two or more spread over zones."
  type        = number
  default     = 2
}

variable "origin_max_count" {
  description = "Most origin tasks (autoscaling ceiling)."
  type        = number
  default     = 20
}

variable "origin_cpu_target" {
  description = "Average CPU utilisation (%) the origin service is scaled to."
  type        = number
  default     = 65
}

variable "worker_cpu" {
  description = "CPU units of one worker task (imgorigin worker: eager presets, notifications, S3 events)."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory (MiB) of one worker task."
  type        = number
  default     = 2048
}

variable "worker_count" {
  description = "Number of worker tasks."
  type        = number
  default     = 1
}

variable "eager_presets" {
  description = "Preset names rendered as soon as an original arrives (ingest.eager), e.g. [\"thumb\", \"medium\"]."
  type        = list(string)
  default     = []
}

variable "presets" {
  description = "Named presets (name = imgproxy options), passed as IMGORIGIN_PRESETS."
  type        = map(string)
  default = {
    thumb  = "rs:fill:320:320"
    medium = "rs:fit:1024:1024"
    large  = "rs:fit:2048:2048"
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type of the shared result tier and purge generations."
  type        = string
  default     = "cache.t4g.medium"
}

variable "redis_replicas" {
  description = "Read replicas next to the Redis primary (0 = none; 1 or more enables automatic failover)."
  type        = number
  default     = 1
}

variable "result_expiration_days" {
  description = "Days after which rendered results under the result prefix expire (S3 lifecycle rule)."
  type        = number
  default     = 30
}

variable "result_prefix" {
  description = "Key prefix of rendered results in the results bucket (cache.s3_result_prefix); the lifecycle rule applies to it."
  type        = string
  default     = "results/"
}

variable "origin_shield_region" {
  description = "AWS region of CloudFront's Origin Shield: the region closest to the ALB."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class (PriceClass_100, PriceClass_200 or PriceClass_All)."
  type        = string
  default     = "PriceClass_100"
}

variable "aliases" {
  description = "Host names CloudFront answers for (e.g. [\"img.example.com\"]); needs acm_certificate_arn."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in us-east-1) for the aliases; \"\" serves on the cloudfront.net name."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Days the CloudWatch log group keeps imgorigin's logs."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
