# Serverless containers: one image, one subcommand per container.
#
# The environment variable names below are the contract with the `agentops`
# binary (see ENV_CONTRACT.md): plain values in `environment_variables`,
# anything secret in `secret_environment_variables`, never the other way
# round (enforced by infra/policies/). Keep every map a literal object so
# tests can parse it.
#
# Image rollouts belong to infra/deploy.sh (build, push, migrate, roll,
# wait for /ready, roll back): Terraform sets the first image and then
# ignores `registry_image`, so an apply never reverts a deployed tag.

resource "scaleway_container_namespace" "main" {
  name        = "${var.name_prefix}-ns"
  description = "AgentOps serverless containers"
  tags        = local.tags
}

# --- API: REST + WebSocket, the only container with database/Redis access --

resource "scaleway_container" "api" {
  count        = var.create_containers ? 1 : 0
  name         = "${var.name_prefix}-api"
  description  = "agentops api"
  namespace_id = scaleway_container_namespace.main.id
  tags         = local.tags

  registry_image = local.image
  # Deploy on create (a no-op on provider versions that always deploy).
  deploy      = true
  command     = ["agentops"]
  args        = ["api"]
  port        = 8080
  protocol    = "http1"
  privacy     = "public"
  http_option = "redirected"

  min_scale    = var.api_min_scale
  max_scale    = var.api_max_scale
  cpu_limit    = var.api_cpu_limit
  memory_limit = var.api_memory_limit
  # Longest allowed request time; WebSocket clients resume with ?since=ID.
  timeout = 900

  # Egress to PostgreSQL and Redis on the private network.
  private_network_id = scaleway_vpc_private_network.main.id

  health_check {
    http {
      path = "/health"
    }
    failure_threshold = 3
    interval          = "10s"
  }

  environment_variables = {
    AGENTOPS_BIND = "0.0.0.0:8080"
    # Migrations run once per release from infra/deploy.sh (`agentops migrate
    # up`), so an older image can still start on a newer schema (rollback).
    AGENTOPS_MIGRATE      = "false"
    S3_ENDPOINT           = local.s3_endpoint
    S3_BUCKET             = scaleway_object_bucket.artifacts.name
    S3_REGION             = var.region
    AGENTOPS_CORS_ORIGINS = local.cors_origins
    AGENTOPS_LOG_FORMAT   = "json"
    RUST_LOG              = var.rust_log
    # The managed Redis presents a certificate from its own CA: trust exactly that one.
    REDIS_CA_CERT = scaleway_redis_cluster.main.certificate
  }

  secret_environment_variables = {
    DATABASE_URL         = local.database_url
    REDIS_URL            = local.redis_url
    S3_ACCESS_KEY_ID     = local.s3_access_key_id
    S3_SECRET_ACCESS_KEY = local.s3_secret_access_key
    AGENTOPS_ADMIN_KEY   = local.admin_key
    AGENTOPS_SECRET_KEY  = local.secret_key
  }

  lifecycle {
    ignore_changes = [registry_image]

    precondition {
      condition     = var.api_max_scale >= var.api_min_scale
      error_message = "api_max_scale must be >= api_min_scale."
    }
    precondition {
      condition     = nonsensitive(!(var.s3_access_key_id != "" && var.s3_secret_access_key == ""))
      error_message = "s3_secret_access_key is required when s3_access_key_id is set."
    }
  }

  depends_on = [scaleway_rdb_privilege.app]
}

resource "scaleway_container_domain" "api" {
  count        = var.create_containers && var.api_domain != "" ? 1 : 0
  container_id = scaleway_container.api[0].id
  hostname     = var.api_domain
}

# --- Chief of Staff agent (reaches the platform only through the API) ------
# It creates projects and tasks and approves what people approve in a chat,
# so it holds an admin key.

resource "scaleway_container" "chief_of_staff" {
  count        = var.create_containers && var.enable_chief_of_staff ? 1 : 0
  name         = "${var.name_prefix}-chief-of-staff"
  description  = "agentops chief-of-staff"
  namespace_id = scaleway_container_namespace.main.id
  tags         = local.tags

  registry_image = local.image
  # Deploy on create (a no-op on provider versions that always deploy).
  deploy   = true
  command  = ["agentops"]
  args     = ["chief-of-staff"]
  port     = 8080
  protocol = "http1"
  # Called by the Telegram bot (and any client) over HTTPS; POST /chat takes
  # only platform admin keys, checked with the API on every new key.
  privacy     = "public"
  http_option = "redirected"

  min_scale    = 1
  max_scale    = 1
  cpu_limit    = var.agent_cpu_limit
  memory_limit = var.agent_memory_limit

  health_check {
    http {
      path = "/health"
    }
    failure_threshold = 3
    interval          = "10s"
  }

  environment_variables = {
    # Its HTTP API (POST /chat, GET /health) for the Telegram bot and the
    # health check below.
    AGENTOPS_BIND        = "0.0.0.0:8080"
    AGENTOPS_URL         = local.api_url
    LLM_BASE_URL         = var.llm_base_url
    LLM_MODEL            = var.llm_model
    LLM_CLASSIFIER_MODEL = var.llm_classifier_model
    VISION_MODEL         = var.vision_model
    # Voice notes: an OpenAI-compatible audio API ("" = no voice).
    SPEECH_BASE_URL      = var.speech_base_url
    SPEECH_STT_MODEL     = var.speech_stt_model
    SPEECH_TTS_MODEL     = var.speech_tts_model
    SPEECH_TTS_VOICE     = var.speech_tts_voice
    SPEECH_CHUNK_SECONDS = tostring(var.speech_chunk_seconds)
    AGENTOPS_LOG_FORMAT  = "json"
    RUST_LOG             = var.rust_log
  }

  secret_environment_variables = {
    AGENTOPS_API_KEY = local.admin_key
    LLM_API_KEY      = var.llm_api_key
    SPEECH_API_KEY   = var.speech_api_key != "" ? var.speech_api_key : var.llm_api_key
    # Opens persona owners' own provider keys (the persona runtime runs here).
    AGENTOPS_SECRET_KEY = local.secret_key
  }

  lifecycle {
    ignore_changes = [registry_image]
  }
}

# --- Seed worker -------------------------------------------------------------

resource "scaleway_container" "seed" {
  count        = var.create_containers && var.enable_seed ? 1 : 0
  name         = "${var.name_prefix}-seed"
  description  = "agentops seed"
  namespace_id = scaleway_container_namespace.main.id
  tags         = local.tags

  registry_image = local.image
  # Deploy on create (a no-op on provider versions that always deploy).
  deploy   = true
  command  = ["agentops"]
  args     = ["seed"]
  port     = 8080
  protocol = "http1"
  privacy  = "private"

  # Workers poll for tasks: keep one warm, scale out under load.
  min_scale    = 1
  max_scale    = var.seed_max_scale
  cpu_limit    = var.agent_cpu_limit
  memory_limit = var.agent_memory_limit

  health_check {
    http {
      path = "/health"
    }
    failure_threshold = 3
    interval          = "10s"
  }

  environment_variables = {
    # Serves /health for the health check below (the worker itself only
    # calls out, to the API and the LLM).
    AGENTOPS_BIND = "0.0.0.0:8080"
    AGENTOPS_URL  = local.api_url
    LLM_BASE_URL  = var.llm_base_url
    LLM_MODEL     = var.llm_model
    SEED_SANDBOX  = var.seed_sandbox
    # A preview is served by the one worker that runs its server, and a serverless
    # pool routes each request to any of its instances: previews need a Seed the API
    # reaches directly (see docs/seed.md), so they are off here.
    SEED_PREVIEW_BIND   = "off"
    AGENTOPS_LOG_FORMAT = "json"
    RUST_LOG            = var.rust_log
  }

  secret_environment_variables = {
    AGENTOPS_API_KEY = local.agent_api_key
    LLM_API_KEY      = var.llm_api_key
  }

  lifecycle {
    ignore_changes = [registry_image]
  }
}

# --- Telegram bot (webhook mode) --------------------------------------------

resource "scaleway_container" "telegram" {
  count        = var.create_containers && var.enable_telegram ? 1 : 0
  name         = "${var.name_prefix}-telegram"
  description  = "agentops telegram"
  namespace_id = scaleway_container_namespace.main.id
  tags         = local.tags

  registry_image = local.image
  # Deploy on create (a no-op on provider versions that always deploy).
  deploy   = true
  command  = ["agentops"]
  args     = ["telegram"]
  port     = 8080
  protocol = "http1"
  # Telegram calls the webhook from the Internet; every call must carry
  # TELEGRAM_WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token.
  privacy     = "public"
  http_option = "redirected"

  # Kept warm: it also follows the event stream to send notifications. It
  # approves plans when people press OK, so it holds the admin key.
  min_scale    = 1
  max_scale    = 1
  cpu_limit    = var.agent_cpu_limit
  memory_limit = var.agent_memory_limit

  health_check {
    http {
      path = "/health"
    }
    failure_threshold = 3
    interval          = "10s"
  }

  environment_variables = {
    # The webhook (the path of TELEGRAM_WEBHOOK_URL) and GET /health.
    AGENTOPS_BIND          = "0.0.0.0:8080"
    CHIEF_OF_STAFF_URL     = local.chief_url
    AGENTOPS_URL           = local.api_url
    TELEGRAM_WEBHOOK_URL   = local.telegram_webhook_url
    TELEGRAM_ALLOWED_CHATS = join(",", var.telegram_allowed_chats)
    TELEGRAM_USER_RATE     = tostring(var.telegram_user_rate)
    AGENTOPS_LOG_FORMAT    = "json"
    RUST_LOG               = var.rust_log
  }

  secret_environment_variables = {
    AGENTOPS_API_KEY        = local.admin_key
    TELEGRAM_BOT_TOKEN      = var.telegram_bot_token
    TELEGRAM_WEBHOOK_SECRET = local.telegram_webhook_secret
    # Opens the tokens of personas that are Telegram bots of their own: this
    # container runs those bots too (long polling).
    AGENTOPS_SECRET_KEY = local.secret_key
  }

  lifecycle {
    ignore_changes = [registry_image]

    precondition {
      condition     = nonsensitive(var.telegram_bot_token != "")
      error_message = "enable_telegram = true needs telegram_bot_token."
    }
    precondition {
      condition     = var.enable_chief_of_staff
      error_message = "enable_telegram = true needs enable_chief_of_staff = true: the bot talks to the Chief of Staff."
    }
  }
}

resource "scaleway_container_domain" "telegram" {
  count        = var.create_containers && var.enable_telegram && var.telegram_domain != "" ? 1 : 0
  container_id = scaleway_container.telegram[0].id
  hostname     = var.telegram_domain
}
