# CloudFront in front of the ALB: Origin Shield (one regional cache before the origin), a viewer
# request function folding Accept into the four values that decide the output format (accept.js),
# a cache policy keyed on that header only, and no compression (images are compressed already,
# and Accept-Encoding in the key would only split the cache).
resource "aws_cloudfront_function" "accept" {
  name    = "${local.name}-accept"
  runtime = "cloudfront-js-2.0"
  comment = "Normalise Accept to the formats imgorigin negotiates (AVIF, WebP)"
  code    = file("${path.module}/accept.js")
  publish = true
}

resource "aws_cloudfront_cache_policy" "images" {
  name        = "${local.name}-images"
  comment     = "imgorigin images: keyed on the normalised Accept; imgorigin's Cache-Control decides the TTL"
  min_ttl     = 0
  default_ttl = 86400
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false
    headers_config {
      header_behavior = "whitelist"
      headers { items = ["Accept"] }
    }
    cookies_config { cookie_behavior = "none" }
    query_strings_config { query_string_behavior = "none" }
  }
}

data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_viewer" {
  name = "Managed-AllViewerExceptHostHeader"
}

resource "aws_cloudfront_distribution" "this" {
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "imgorigin"
  price_class     = var.price_class
  aliases         = var.aliases

  origin {
    origin_id   = "imgorigin-alb"
    domain_name = aws_lb.this.dns_name
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "http-only"
      origin_ssl_protocols   = ["TLSv1.2"]
      origin_read_timeout    = 60
    }
    custom_header {
      name  = "X-Origin-Verify"
      value = random_password.origin_verify.result
    }
    origin_shield {
      enabled              = true
      origin_shield_region = var.origin_shield_region
    }
  }

  default_cache_behavior {
    target_origin_id       = "imgorigin-alb"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD"]
    compress               = false
    cache_policy_id        = aws_cloudfront_cache_policy.images.id
    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.accept.arn
    }
  }

  # The API (uploads, purge, jobs) passes through uncached, every method and header included.
  ordered_cache_behavior {
    path_pattern             = "/v1/*"
    target_origin_id         = "imgorigin-alb"
    viewer_protocol_policy   = "https-only"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = false
    cache_policy_id          = data.aws_cloudfront_cache_policy.disabled.id
    origin_request_policy_id = data.aws_cloudfront_origin_request_policy.all_viewer.id
  }

  restrictions {
    geo_restriction { restriction_type = "none" }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == ""
    acm_certificate_arn            = var.acm_certificate_arn == "" ? null : var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == "" ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == "" ? "TLSv1" : "TLSv1.2_2021"
  }
  tags = local.tags
}
