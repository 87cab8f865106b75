# ---------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------

variable "project_id" {
  description = "Scaleway Project ID to create everything in. null = the provider default (SCW_DEFAULT_PROJECT_ID)."
  type        = string
  default     = null

  validation {
    condition     = var.project_id == null || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.project_id))
    error_message = "project_id must be a UUID or null."
  }
}

variable "region" {
  description = "Scaleway region for regional resources (database, object storage, registry, containers, private network)."
  type        = string
  default     = "fr-par"

  validation {
    condition     = contains(["fr-par", "nl-ams", "pl-waw"], var.region)
    error_message = "region must be one of fr-par, nl-ams, pl-waw."
  }
}

variable "zone" {
  description = "Scaleway zone for zonal resources (Redis, load balancer, bastion gateway). Must belong to var.region."
  type        = string
  default     = "fr-par-1"

  validation {
    condition     = can(regex("^(fr-par|nl-ams|pl-waw)-[1-3]$", var.zone))
    error_message = "zone must look like fr-par-1, nl-ams-2, pl-waw-3."
  }
}

variable "name_prefix" {
  description = "Prefix for every resource name (lowercase letters, digits and hyphens)."
  type        = string
  default     = "agentops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters: lowercase letters, digits, hyphens; start with a letter."
  }
}

variable "tags" {
  description = "Extra tags added to every resource that supports tags."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

variable "private_network_cidr" {
  description = "IPv4 subnet of the private network that carries database and Redis traffic."
  type        = string
  default     = "172.16.16.0/22"

  validation {
    condition     = can(cidrhost(var.private_network_cidr, 0)) && tonumber(split("/", var.private_network_cidr)[1]) <= 28
    error_message = "private_network_cidr must be a valid IPv4 CIDR of /28 or larger."
  }
}

variable "enable_bastion" {
  description = "Create a Public Gateway with an SSH bastion on the private network. deploy.sh (migrations) and the backup/restore scripts reach the private-only database through it."
  type        = bool
  default     = true
}

variable "bastion_port" {
  description = "TCP port of the SSH bastion on the gateway's public IP."
  type        = number
  default     = 61000

  validation {
    condition     = var.bastion_port >= 1024 && var.bastion_port <= 65535
    error_message = "bastion_port must be between 1024 and 65535."
  }
}

variable "bastion_allowed_cidrs" {
  description = "CIDRs allowed to connect to the SSH bastion. Empty = any (authentication is by the Project's SSH keys only)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.bastion_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "Every entry of bastion_allowed_cidrs must be a valid CIDR."
  }
}

# ---------------------------------------------------------------------------
# Managed PostgreSQL
# ---------------------------------------------------------------------------

variable "db_node_type" {
  description = "Managed Database node type (see `scw rdb node-type list`)."
  type        = string
  default     = "DB-DEV-S"

  validation {
    condition     = can(regex("^(?i)db-[a-z0-9-]+$", var.db_node_type))
    error_message = "db_node_type must be a Managed Database node type such as DB-DEV-S or DB-PLAY2-PICO."
  }
}

variable "db_engine" {
  description = "Managed Database engine (PostgreSQL 15 or newer)."
  type        = string
  default     = "PostgreSQL-16"

  validation {
    condition     = can(regex("^PostgreSQL-(1[5-9]|[2-9][0-9])$", var.db_engine))
    error_message = "db_engine must be PostgreSQL-15 or newer, e.g. PostgreSQL-16."
  }
}

variable "db_is_ha_cluster" {
  description = "Run the database as a high-availability cluster (standby node, roughly doubles its price). Changing it recreates the instance."
  type        = bool
  default     = false
}

variable "db_volume_type" {
  description = "Database storage type: lssd (local, sized by the node type), sbs_5k or sbs_15k (block storage, sized by db_volume_size_gb)."
  type        = string
  default     = "lssd"

  validation {
    condition     = contains(["lssd", "sbs_5k", "sbs_15k"], var.db_volume_type)
    error_message = "db_volume_type must be lssd, sbs_5k or sbs_15k."
  }
}

variable "db_volume_size_gb" {
  description = "Database volume size in GB for sbs_* volume types (multiple of 5). Ignored with lssd."
  type        = number
  default     = 10

  validation {
    condition     = var.db_volume_size_gb >= 5 && var.db_volume_size_gb % 5 == 0
    error_message = "db_volume_size_gb must be a multiple of 5, at least 5."
  }
}

variable "db_backup_frequency_hours" {
  description = "Hours between two automated database backups (24 = daily)."
  type        = number
  default     = 24

  validation {
    condition     = var.db_backup_frequency_hours >= 1 && var.db_backup_frequency_hours <= 24
    error_message = "db_backup_frequency_hours must be between 1 and 24 (at least daily)."
  }
}

variable "db_backup_retention_days" {
  description = "Days an automated database backup is kept."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 365
    error_message = "db_backup_retention_days must be between 1 and 365."
  }
}

variable "db_backup_same_region" {
  description = "Store automated backups in the same region as the database. false (default) keeps them in another region, which survives a regional outage."
  type        = bool
  default     = false
}

variable "db_name" {
  description = "Name of the application database."
  type        = string
  default     = "agentops"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lowercase PostgreSQL identifier."
  }
}

variable "db_user" {
  description = "Name of the application database user (owner of the schema)."
  type        = string
  default     = "agentops"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_user)) && var.db_user != "agentops_admin"
    error_message = "db_user must be a lowercase PostgreSQL identifier other than agentops_admin."
  }
}

# ---------------------------------------------------------------------------
# Managed Redis
# ---------------------------------------------------------------------------

variable "redis_node_type" {
  description = "Managed Redis node type (see `scw redis node-type list`)."
  type        = string
  default     = "RED1-MICRO"

  validation {
    condition     = can(regex("^(?i)red[0-9]*-[a-z0-9-]+$", var.redis_node_type))
    error_message = "redis_node_type must be a Managed Redis node type such as RED1-MICRO."
  }
}

variable "redis_version" {
  description = "Redis version (see `scw redis version list`)."
  type        = string
  default     = "7.2.11"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.redis_version))
    error_message = "redis_version must be a full version such as 7.2.11."
  }
}

variable "redis_cluster_size" {
  description = "Redis nodes: 1 = standalone, 2 = high availability (main + standby), 3+ = cluster mode."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_cluster_size >= 1 && var.redis_cluster_size <= 6
    error_message = "redis_cluster_size must be between 1 and 6."
  }
}

# ---------------------------------------------------------------------------
# Object storage
# ---------------------------------------------------------------------------

variable "bucket_name" {
  description = "Artifact bucket name (globally unique). null = <name_prefix>-artifacts-<random suffix>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, dots and hyphens."
  }
}

variable "bucket_archive_after_days" {
  description = "Lifecycle rule: move objects to the GLACIER storage class this many days after they were written (artifacts are written once and rarely read later). 0 disables the rule. Scaleway requires at least 90 days for a GLACIER transition; GLACIER is not offered in pl-waw. Expiry of noncurrent versions is not exposed by the Scaleway provider: see docs/deploy.md."
  type        = number
  default     = 90

  validation {
    condition     = var.bucket_archive_after_days == 0 || var.bucket_archive_after_days >= 90
    error_message = "bucket_archive_after_days must be 0 (disabled) or at least 90."
  }
}

variable "bucket_abort_incomplete_upload_days" {
  description = "Days after which an unfinished multipart upload is aborted (its parts are billed until then)."
  type        = number
  default     = 7

  validation {
    condition     = var.bucket_abort_incomplete_upload_days >= 1 && var.bucket_abort_incomplete_upload_days <= 365
    error_message = "bucket_abort_incomplete_upload_days must be between 1 and 365."
  }
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty artifact bucket (irreversible). Keep false in production."
  type        = bool
  default     = false
}

variable "s3_access_key_id" {
  description = "Access key the API uses for object storage. Empty = create a dedicated IAM application restricted to Object Storage in this Project (needs IAM permissions at apply time)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "s3_secret_access_key" {
  description = "Secret key matching s3_access_key_id. Required when s3_access_key_id is set."
  type        = string
  default     = ""
  sensitive   = true
}

# ---------------------------------------------------------------------------
# Image and registry
# ---------------------------------------------------------------------------

variable "registry_namespace_name" {
  description = "Container Registry namespace name (globally unique per region). null = <name_prefix>-<random suffix>."
  type        = string
  default     = null

  validation {
    condition     = var.registry_namespace_name == null || can(regex("^[a-z0-9][a-z0-9-]{2,52}[a-z0-9]$", var.registry_namespace_name))
    error_message = "registry_namespace_name must be 4-54 characters of lowercase letters, digits and hyphens."
  }
}

variable "image_name" {
  description = "Repository name of the agentops image inside the registry namespace."
  type        = string
  default     = "agentops"

  validation {
    condition     = can(regex("^[a-z0-9]+([._-][a-z0-9]+)*$", var.image_name))
    error_message = "image_name must be a valid image repository name."
  }
}

variable "image_tag" {
  description = "Image tag the containers are created with. After the first apply, infra/deploy.sh rolls tags; Terraform ignores later changes of the image (see containers.tf)."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "create_containers" {
  description = "Create the serverless containers. Set false for the very first apply, before an image exists in the registry (see docs/deploy.md)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# API container
# ---------------------------------------------------------------------------

variable "api_min_scale" {
  description = "Minimum API replicas kept running (at least 1: the API must answer without cold start)."
  type        = number
  default     = 1

  validation {
    condition     = var.api_min_scale >= 1
    error_message = "api_min_scale must be at least 1."
  }
}

variable "api_max_scale" {
  description = "Maximum API replicas. Replicas are stateless; Redis carries event fan-out between them."
  type        = number
  default     = 5

  validation {
    condition     = var.api_max_scale >= 1 && var.api_max_scale <= 50
    error_message = "api_max_scale must be between 1 and 50."
  }
}

variable "api_cpu_limit" {
  description = "vCPU per API replica, in thousandths (560 = 0.56 vCPU)."
  type        = number
  default     = 560

  validation {
    condition     = contains([70, 140, 280, 560, 1000, 1120, 1680, 2240, 3000, 4000, 6000], var.api_cpu_limit)
    error_message = "api_cpu_limit must be one of 70, 140, 280, 560, 1000, 1120, 1680, 2240, 3000, 4000, 6000."
  }
}

variable "api_memory_limit" {
  description = "Memory per API replica in MB."
  type        = number
  default     = 1024

  validation {
    condition     = contains([128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384], var.api_memory_limit)
    error_message = "api_memory_limit must be one of 128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384."
  }
}

variable "api_domain" {
  description = "Custom hostname for the API (e.g. api.example.com). Needs a CNAME to the container's default domain before apply. Empty = use the default *.scw.cloud domain."
  type        = string
  default     = ""

  validation {
    condition     = var.api_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.api_domain))
    error_message = "api_domain must be a lowercase hostname or empty."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed by CORS (AGENTOPS_CORS_ORIGINS). Empty = the API's own URL only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_origins : can(regex("^https?://[^/]+$", o))])
    error_message = "Every cors_origins entry must be an origin like https://app.example.com (no path)."
  }
}

variable "secret_key" {
  description = "Master key stored secrets are sealed under (AGENTOPS_SECRET_KEY): 32 bytes as base64. Empty = generate one (keep it with the database backups: `terraform output -raw secret_key`). Rotate with `agentops secrets rotate`."
  type        = string
  default     = ""
  sensitive   = true
}

variable "admin_key" {
  description = "Bootstrap admin API key (AGENTOPS_ADMIN_KEY). Empty = generate a random one (read it with `terraform output -raw admin_key`)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.admin_key == "" || length(var.admin_key) >= 32
    error_message = "admin_key must be empty or at least 32 characters."
  }
}

variable "rust_log" {
  description = "RUST_LOG filter for every container."
  type        = string
  default     = "info"
}

# ---------------------------------------------------------------------------
# Agents (Chief of Staff, Seed) and Telegram
# ---------------------------------------------------------------------------

variable "enable_chief_of_staff" {
  description = "Run the Chief of Staff agent container (`agentops chief-of-staff`: POST /chat)."
  type        = bool
  default     = true
}

variable "enable_seed" {
  description = "Run the Seed worker container."
  type        = bool
  default     = true
}

variable "seed_max_scale" {
  description = "Maximum Seed worker replicas."
  type        = number
  default     = 3

  validation {
    condition     = var.seed_max_scale >= 1 && var.seed_max_scale <= 50
    error_message = "seed_max_scale must be between 1 and 50."
  }
}

variable "seed_sandbox" {
  description = "How Seed isolates shell steps: bubblewrap (namespaces; steps are refused where the container cannot create them) or processes (weaker: limits only)."
  type        = string
  default     = "bubblewrap"

  validation {
    condition     = contains(["bubblewrap", "processes"], var.seed_sandbox)
    error_message = "seed_sandbox must be bubblewrap or processes."
  }
}

variable "agent_cpu_limit" {
  description = "vCPU per agent/Telegram replica, in thousandths."
  type        = number
  default     = 280

  validation {
    condition     = contains([70, 140, 280, 560, 1000, 1120, 1680, 2240], var.agent_cpu_limit)
    error_message = "agent_cpu_limit must be one of 70, 140, 280, 560, 1000, 1120, 1680, 2240."
  }
}

variable "agent_memory_limit" {
  description = "Memory per agent/Telegram replica in MB."
  type        = number
  default     = 512

  validation {
    condition     = contains([128, 256, 512, 1024, 2048, 3072, 4096], var.agent_memory_limit)
    error_message = "agent_memory_limit must be one of 128, 256, 512, 1024, 2048, 3072, 4096."
  }
}

variable "agent_api_key" {
  description = "API key (role agent) used by the Chief of Staff, Seed and Telegram containers (AGENTOPS_API_KEY). Empty = they use the admin key until you create an agent key and re-apply (docs/deploy.md)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "llm_base_url" {
  description = "OpenAI-compatible chat API base URL (LLM_BASE_URL)."
  type        = string
  default     = "https://api.scaleway.ai/v1"

  validation {
    condition     = var.llm_base_url == "" || can(regex("^https?://", var.llm_base_url))
    error_message = "llm_base_url must be an http(s) URL or empty."
  }
}

variable "llm_model" {
  description = "Chat model name (LLM_MODEL)."
  type        = string
  default     = "llama-3.3-70b-instruct"
}

variable "llm_classifier_model" {
  description = "The model the Chief of Staff classifies each message with before it thinks with llm_model (LLM_CLASSIFIER_MODEL): a cheaper one on the same provider; empty = llm_model."
  type        = string
  default     = ""
}

variable "vision_model" {
  description = "A model that sees, on the LLM provider, describing the pictures people send the Chief of Staff (VISION_MODEL); empty = pictures are not seen, their captions are read."
  type        = string
  default     = "pixtral-12b-2409"
}

variable "speech_base_url" {
  description = "OpenAI-compatible audio API the Chief of Staff hears voice notes with (SPEECH_BASE_URL: POST /audio/transcriptions, and /audio/speech for spoken answers); empty = no voice."
  type        = string
  default     = "https://api.scaleway.ai/v1"

  validation {
    condition     = var.speech_base_url == "" || can(regex("^https?://", var.speech_base_url))
    error_message = "speech_base_url must be empty or an http(s) URL."
  }
}

variable "speech_stt_model" {
  description = "Transcription model (SPEECH_STT_MODEL)."
  type        = string
  default     = "whisper-large-v3"
}

variable "speech_tts_model" {
  description = "Speech model for spoken answers (SPEECH_TTS_MODEL), on a provider that has /audio/speech."
  type        = string
  default     = "tts-1"
}

variable "speech_tts_voice" {
  description = "Voice of spoken answers (SPEECH_TTS_VOICE)."
  type        = string
  default     = "alloy"
}

variable "speech_chunk_seconds" {
  description = "Longest recording sent in one transcription, in seconds (SPEECH_CHUNK_SECONDS); longer voice notes are cut at their pauses."
  type        = number
  default     = 600

  validation {
    condition     = var.speech_chunk_seconds >= 5
    error_message = "speech_chunk_seconds must be at least 5."
  }
}

variable "speech_api_key" {
  description = "API key for the speech provider (SPEECH_API_KEY); empty = llm_api_key (the same Scaleway IAM secret key)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "llm_api_key" {
  description = "API key for the LLM provider (LLM_API_KEY); for Scaleway Generative APIs, an IAM secret key."
  type        = string
  default     = ""
  sensitive   = true
}

variable "enable_telegram" {
  description = "Run the Telegram bot container (webhook mode). Requires telegram_bot_token."
  type        = bool
  default     = false
}

variable "telegram_bot_token" {
  description = "Telegram bot token from @BotFather (TELEGRAM_BOT_TOKEN)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "telegram_webhook_secret" {
  description = "Secret token Telegram sends with every webhook call (TELEGRAM_WEBHOOK_SECRET). Empty = generate one."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.telegram_webhook_secret == "" || can(regex("^[A-Za-z0-9_-]{16,256}$", var.telegram_webhook_secret))
    error_message = "telegram_webhook_secret must be 16-256 characters of A-Z, a-z, 0-9, _ and -."
  }
}

variable "telegram_domain" {
  description = "Custom hostname for the Telegram webhook container (optional; needs a CNAME to its default domain)."
  type        = string
  default     = ""
}

variable "telegram_webhook_url" {
  description = "Full public webhook URL (TELEGRAM_WEBHOOK_URL). Empty = https://<telegram_domain><telegram_webhook_path> when telegram_domain is set; otherwise set it after the first apply from `terraform output telegram_url`."
  type        = string
  default     = ""

  validation {
    condition     = var.telegram_webhook_url == "" || can(regex("^https://", var.telegram_webhook_url))
    error_message = "telegram_webhook_url must be an https URL (Telegram only calls HTTPS webhooks) or empty."
  }
}

variable "telegram_webhook_path" {
  description = "Path of the webhook endpoint served by `agentops telegram`."
  type        = string
  default     = "/telegram/webhook"

  validation {
    condition     = startswith(var.telegram_webhook_path, "/")
    error_message = "telegram_webhook_path must start with /."
  }
}

variable "telegram_user_rate" {
  description = "Messages one person may send the Telegram bot a minute (TELEGRAM_USER_RATE); 0 = no limit."
  type        = number
  default     = 10

  validation {
    condition     = var.telegram_user_rate >= 0 && floor(var.telegram_user_rate) == var.telegram_user_rate
    error_message = "telegram_user_rate must be a whole number, 0 or more."
  }
}

variable "telegram_allowed_chats" {
  description = "Telegram chat IDs allowed from the start (TELEGRAM_ALLOWED_CHATS, comma-joined): they seed the allowlist kept on the platform; other chats join by pairing (a one-time code an operator approves)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.telegram_allowed_chats : can(regex("^-?[0-9]+$", c))])
    error_message = "telegram_allowed_chats entries must be numeric chat IDs."
  }
}

# ---------------------------------------------------------------------------
# Optional load balancer
# ---------------------------------------------------------------------------

variable "enable_load_balancer" {
  description = "Create a public Load Balancer on the private network. Serverless containers are already load-balanced by Scaleway and cannot be LB backends; use this only for API replicas that have private IPs (Instances or Kapsule nodes running `agentops api`) listed in lb_backend_server_ips."
  type        = bool
  default     = false
}

variable "lb_type" {
  description = "Load Balancer commercial type."
  type        = string
  default     = "LB-S"

  validation {
    condition     = contains(["LB-S", "LB-GP-M", "LB-GP-L", "LB-GP-XL"], var.lb_type)
    error_message = "lb_type must be LB-S, LB-GP-M, LB-GP-L or LB-GP-XL."
  }
}

variable "lb_backend_server_ips" {
  description = "Private IPs of API replicas (listening on 8080) behind the load balancer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for ip in var.lb_backend_server_ips : can(cidrhost("${ip}/32", 0))])
    error_message = "lb_backend_server_ips must be IPv4 addresses."
  }
}

variable "lb_domain" {
  description = "Hostname for the load balancer's Let's Encrypt certificate (its A record must point to the LB IP). Empty = plain HTTP on port 80."
  type        = string
  default     = ""
}
