# ECS Fargate: the origin service behind the ALB (scaled on CPU) and the worker service. Both run
# the image of deploy/Dockerfile; imgorigin's settings come as IMGORIGIN_* variables over the
# image's /etc/imgorigin/imgorigin.toml, its secrets from Secrets Manager.
locals {
  config_path = "/etc/imgorigin/imgorigin.toml"
  environment = [for k, v in {
    IMGORIGIN_BIND               = "0.0.0.0:${local.container_port}"
    IMGORIGIN_REDIS_URL          = "redis://${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379/0"
    IMGORIGIN_DISK_CACHE_DIR     = "/var/cache/imgorigin"
    IMGORIGIN_DISK_CACHE_SIZE    = "8GiB"
    IMGORIGIN_S3_ENABLED         = "true"
    IMGORIGIN_S3_ALLOWED_BUCKETS = aws_s3_bucket.this["originals"].bucket
    IMGORIGIN_S3_RESULT_BUCKET   = aws_s3_bucket.this["results"].bucket
    IMGORIGIN_S3_RESULT_PREFIX   = var.result_prefix
    IMGORIGIN_INGEST_ENABLED     = "true"
    IMGORIGIN_ORIGINALS          = "s3://${aws_s3_bucket.this["originals"].bucket}/"
    IMGORIGIN_VARIANTS_STORE     = "s3://${aws_s3_bucket.this["variants"].bucket}/"
    IMGORIGIN_EAGER              = join(",", var.eager_presets)
    IMGORIGIN_PRESETS            = join(",", [for name, options in var.presets : "${name}=${options}"])
    IMGORIGIN_JOBS_QUEUE         = "sqs"
    IMGORIGIN_SQS_JOBS_QUEUE     = aws_sqs_queue.this["jobs"].url
    IMGORIGIN_SQS_NOTIFY_QUEUE   = aws_sqs_queue.this["notify"].url
    IMGORIGIN_SQS_EVENTS_QUEUE   = aws_sqs_queue.this["events"].url
    IMGORIGIN_SNS_TOPIC_ARN      = aws_sns_topic.events.arn
    IMGORIGIN_JOBS_IN_SERVE      = "false"
    AWS_REGION                   = data.aws_region.current.name
  } : { name = k, value = v }]
  secrets = concat(
    [for key in ["IMGORIGIN_KEY", "IMGORIGIN_SALT", "IMGORIGIN_API_KEY"] :
    { name = key, valueFrom = "${var.signing_secret_arn}:${key}::" }],
    var.records_secret_arn == "" ? [] : [{ name = "IMGORIGIN_RECORDS", valueFrom = var.records_secret_arn }],
  )
  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.this.name
      awslogs-region        = data.aws_region.current.name
      awslogs-stream-prefix = "imgorigin"
    }
  }
}

resource "aws_ecs_cluster" "this" {
  name = local.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = local.tags
}

resource "aws_ecs_task_definition" "origin" {
  family                   = "${local.name}-origin"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.origin_cpu
  memory                   = var.origin_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  ephemeral_storage { size_in_gib = 30 }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name             = "imgorigin"
    image            = var.image
    essential        = true
    command          = ["serve", "--config", local.config_path]
    portMappings     = [{ containerPort = local.container_port, protocol = "tcp" }]
    environment      = local.environment
    secrets          = local.secrets
    logConfiguration = local.log_configuration
    stopTimeout      = 30
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/imgorigin", "healthcheck"]
      interval    = 15
      timeout     = 3
      retries     = 3
      startPeriod = 10
    }
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
  }])
  tags = local.tags
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${local.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name             = "worker"
    image            = var.image
    essential        = true
    command          = ["worker", "--config", local.config_path]
    environment      = local.environment
    secrets          = local.secrets
    logConfiguration = local.log_configuration
    stopTimeout      = 60
  }])
  tags = local.tags
}

resource "aws_ecs_service" "origin" {
  name                              = "${local.name}-origin"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.origin.arn
  desired_count                     = var.origin_min_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent        = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets         = var.private_subnet_ids
    security_groups = [aws_security_group.tasks.id]
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.origin.arn
    container_name   = "imgorigin"
    container_port   = local.container_port
  }
  # Autoscaling owns the count once running.
  lifecycle { ignore_changes = [desired_count] }
  depends_on = [aws_lb_listener.http]
  tags       = local.tags
}

resource "aws_ecs_service" "worker" {
  name            = "${local.name}-worker"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.worker.arn
  desired_count   = var.worker_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets         = var.private_subnet_ids
    security_groups = [aws_security_group.tasks.id]
  }
  tags = local.tags
}

resource "aws_appautoscaling_target" "origin" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.origin.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.origin_min_count
  max_capacity       = var.origin_max_count
}

resource "aws_appautoscaling_policy" "origin_cpu" {
  name               = "${local.name}-origin-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.origin.service_namespace
  resource_id        = aws_appautoscaling_target.origin.resource_id
  scalable_dimension = aws_appautoscaling_target.origin.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.origin_cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
