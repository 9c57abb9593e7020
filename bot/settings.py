"""All configuration in one typed object, read from MENTIONBOT_* variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting of mentionbot; docs/settings.md's table is generated from these fields."""

    model_config = SettingsConfigDict(env_prefix="MENTIONBOT_", env_file=".env", extra="ignore")

    # storage and queues
    database_url: str = Field(
        "sqlite:///var/mentionbot.db",
        description="SQLAlchemy URL. Postgres in production (postgresql+psycopg://...).",
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery broker (Redis). memory:// in the demo."
    )
    broker_key_prefix: str = Field(
        "", description="Prefix for every Redis key Celery uses (several bots on one Redis)."
    )
    broker_visibility_timeout_s: int = Field(
        3600, description="Redis visibility timeout; must exceed the longest task."
    )

    # the X account
    x_api_url: str | None = Field(
        None, description="Base URL of an X API sandbox; unset means the real api.x.com."
    )
    x_bearer_token: SecretStr | None = Field(None, description="App bearer token (reads).")
    x_consumer_key: SecretStr | None = Field(None, description="OAuth 1.0a consumer key.")
    x_consumer_secret: SecretStr | None = Field(None, description="OAuth 1.0a consumer secret.")
    x_access_token: SecretStr | None = Field(None, description="OAuth 1.0a access token.")
    x_access_token_secret: SecretStr | None = Field(
        None, description="OAuth 1.0a access token secret."
    )
    bot_user_id: str | None = Field(
        None, description="The bot account's user id; looked up with GET /2/users/me if unset."
    )

    # listener
    poll_interval_s: float = Field(15.0, description="Seconds between mention polls.")
    since_overlap_s: float = Field(
        60.0, description="How far behind the newest seen mention a poll re-reads (late posts)."
    )
    since_overlap_every_s: float = Field(
        300.0,
        description=(
            "How often a poll re-reads that overlap (and the first poll after a start); the "
            "others start at the newest, so a quiet timeline costs one page a poll."
        ),
    )
    mentions_page_size: int = Field(100, ge=5, le=100, description="max_results per page.")
    max_pages_per_poll: int = Field(8, description="Page cap per poll (X reaches back 800).")

    # language model
    llm_url: str = Field(
        "http://127.0.0.1:8000", description="vLLM OpenAI-compatible server base URL."
    )
    llm_model: str = Field("tiny-moe", description="Served model name sent to vLLM.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key for the vLLM server.")
    llm_timeout_s: float = Field(60.0, description="Per-request timeout to vLLM.")
    model_profile: str = Field(
        "tiny-moe",
        description="Model profile (`mentionbot model profiles`): sampling and serve arguments.",
    )
    llm_max_tokens: int | None = Field(
        None,
        description=(
            "Max tokens of a reply's text (never above the tier's cap); the profile's if unset. "
            "A reasoning profile's allowance comes on top."
        ),
    )
    llm_temperature: float | None = Field(
        None, description="Sampling temperature; the profile's recommendation if unset."
    )
    llm_send_priority: bool = Field(
        True, description="Send the tier's priority to vLLM (needs --scheduling-policy priority)."
    )
    llm_min_tokens: int = Field(
        4, description="vLLM min_tokens: the model may not stop before this many tokens."
    )
    persona_path: Path | None = Field(
        None, description="Operator persona file; the shipped models/persona.md if unset."
    )
    reply_max_mentions: int = Field(
        1, description="@mentions a reply may keep (extra ones are de-linked, never leading)."
    )
    reply_url_allowlist: list[str] = Field(
        default_factory=list,
        description="Hosts a reply may link to (JSON list); every other URL is removed.",
    )
    mention_token_budget: int = Field(
        384,
        description="Tokens the mention may use in the prompt; a longer one is cut with a marker.",
    )
    context_posts: int = Field(6, description="Thread ancestors fetched for the prompt.")
    context_token_budget: int = Field(
        512, description="Tokens (served model's tokenizer) the thread context may use."
    )
    thread_cap: int = Field(3, description="Replies the bot gives in one conversation.")
    thread_max_posts: int = Field(
        1,
        ge=1,
        le=10,
        description="Posts one answer may take, as a thread (1: one post, as @grok answers).",
    )
    loop_max_per_minute: int = Field(
        5, description="Mentions a minute from one account in one conversation before cooldown."
    )
    loop_cooldown_s: float = Field(600.0, description="How long a looping account is ignored.")
    spam_max_mentions: int = Field(
        5, description="A mention tagging more accounts than this is ignored as spam."
    )
    breaker_failures: int = Field(
        3, description="Consecutive model-server failures that open the circuit breaker."
    )
    breaker_cooldown_s: float = Field(
        10.0, description="Seconds the breaker waits before probing /health again."
    )

    # workers
    task_max_retries: int = Field(5, description="Retries for transient task failures.")
    sweep_interval_s: float = Field(30.0, description="How often the sweeper runs.")
    stuck_after_s: float = Field(
        300.0, description="A mention or reply in flight longer than this is sent again."
    )
    max_attempts: int = Field(
        5, description="Sweeps per mention or reply before it ends failed with a reason."
    )
    reply_max_age_s: float = Field(
        21600.0,
        description="A reply still waiting to go out when its mention is this old ends too_old.",
    )

    # the bot account's platform budgets (X's limits; configurable, never hard-coded)
    read_budget_15m: int = Field(
        300, description="Mentions requests the listener may make per 15 minutes (0: no cap)."
    )
    post_budget_15m: int = Field(100, description="Posts the bot may make per 15 minutes.")
    post_budget_24h: int = Field(10_000, description="Posts the bot may make per 24 hours.")
    credits_probe_s: float = Field(
        60.0,
        gt=0,
        description="While X refuses a kind of call for pay-per-use (402 credits depleted, 429"
        " usage capped), how often the bot tries it again; the work waits meanwhile.",
    )

    # moderation and the dashboard
    review_ttl_s: float = Field(
        21600.0,
        description="A reply waiting for review longer than this is rejected (review_expired).",
    )
    review_claim_s: float = Field(
        300.0, description="How long a moderator's claim on a review item lasts."
    )
    dashboard_secret: SecretStr | None = Field(
        None,
        description="Signs the dashboard's session cookies (a random one per start if unset).",
    )
    dashboard_secure_cookies: bool = Field(
        False, description="Send the dashboard's session cookie over HTTPS only (Secure)."
    )
    login_failures_per_account: int = Field(
        5, description="Failed sign-ins per account per 15 minutes before it is throttled."
    )
    login_failures_per_address: int = Field(
        20, description="Failed sign-ins per client address per 15 minutes before throttling."
    )

    metrics_port: int | None = Field(
        None, description="Serve /metrics and /healthz on this port (every process); unset: off."
    )

    # logs
    log_format: str = Field("console", description="console or json.")
    log_level: str = Field("INFO", description="Root log level.")

    # demo and local engine
    models_dir: Path = Field(
        REPO_ROOT / "var" / "models",
        description="Locally built checkpoints, one directory per profile (tiny-moe, smol-moe).",
    )
    var_dir: Path = Field(
        REPO_ROOT / "var", description="Runtime files: SQLite, logs, beat's schedule."
    )

    @field_validator(
        "x_api_url",
        "x_bearer_token",
        "x_consumer_key",
        "x_consumer_secret",
        "x_access_token",
        "x_access_token_secret",
        "bot_user_id",
        "llm_api_key",
        "dashboard_secret",
        "persona_path",
        "llm_max_tokens",
        "llm_temperature",
        "metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose writes `${VAR:-}` as an empty string: that means "not set", never an empty
        # credential (an empty bearer token would make every read an unsigned 401 on X).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("model_profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        from models.profiles.catalog import get_profile

        get_profile(name)  # raises with the list of known names
        return name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()
