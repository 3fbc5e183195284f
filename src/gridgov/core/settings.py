"""Settings read from the environment (prefix ``GRIDGOV_``), with defaults that run the demo."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    # Working directory for the embedded database, caches and generated worlds.
    var_dir: Path = Field(default=Path("var"))
    # Empty means the embedded SQLite file under var_dir.
    database_url: str = ""
    # Working hours of a working day, as "HH:MM-HH:MM" ranges separated by commas.
    working_hours: str = "09:00-12:00,14:00-18:00"
    # Extra holiday/adjusted-workday rows (same columns as core/data/holidays_cn.csv), e.g. a newly
    # announced year; later rows win.
    holidays_file: Path | None = None
    # Optional raster tile URL template for the map; empty keeps the map vector-only (air-gapped default).
    tile_url: str = ""
    default_language: str = "zh-CN"
    # Mark session cookies Secure: unset = when the request came over HTTPS (behind TLS in production;
    # the demo on http://127.0.0.1 has none, and browsers drop Secure cookies set over plain HTTP).
    cookie_secure: bool | None = None
    # Largest request body accepted, in bytes (uploads included).
    max_body_bytes: int = 20 * 1024 * 1024
    # Feed files uploaded to the import centre (a department's export can be hundreds of MB).
    max_feed_bytes: int = 1024 * 1024 * 1024
    # Largest photo accepted (event snapshots, task evidence), in pixels; checked before it is decoded.
    max_photo_pixels: int = Field(default=24_000_000, ge=1)
    # Origins allowed to call the API from a browser; empty keeps CORS closed.
    cors_origins: list[str] = Field(default_factory=list)
    # Seed and scale of the demo world that `gridgov demo load` generates when given no directory.
    demo_seed: int = 1
    demo_scale: float = 0.01
    # Run the periodic event jobs (deadline colours, overdue supervision) inside the web process. `gridgov
    # serve` turns it on for the demo; in production run one `gridgov worker` instead and leave it off.
    run_jobs: bool = False
    # Database connections kept open per process, and how many more may be opened at a busy moment. The
    # server answers up to 40 requests at once (its thread pool); a pool smaller than that makes busy
    # requests open and close connections of their own, which costs more than the query.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # Threads per server process running requests' database work (see web/app.py's lifespan).
    request_threads: int = Field(default=8, ge=1)
    # How long a server process trusts a bearer token it has resolved without asking the database again.
    # A token revoked (or an account disabled) in this process stops at once; in another process within this.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Client addresses: the socket peer, unless the peer is one of these trusted reverse proxies (IP
    # addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]), whose ``client_ip_header`` is then believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    client_ip_header: str = "x-forwarded-for"
    # Rate limits per client address ("N/second|minute|hour|day", several separated by ";"), kept in
    # memory per process, or in Redis when ``redis_url`` is set (shared by every process).
    rate_limits_enabled: bool = True
    rate_limits_report: str = "10/minute;100/hour"  # POST /report (public snap-report)
    rate_limits_open311_post: str = "30/minute;500/hour"  # POST /open311/v2/requests
    rate_limits_open311_get: str = "60/minute"  # GET /open311/v2/requests, /requests/{id}, /tokens/{id}
    rate_limits_ticket_page: str = "60/minute"  # GET /report/{ticket}
    rate_limits_login: str = "20/minute"  # POST /api/auth/token and /login, every attempt
    rate_limits_key_failures: str = "10/minute"  # Open311 POSTs with a missing or wrong api_key
    redis_url: str = ""
    rate_limit_prefix: str = "gridgov"
    # Event classes whose events the Open311 request list and the public ticket page answer by ticket alone:
    # a domain ("urban", "social"), a major-class code ("01") or a subtype code ("0101"). Other events are
    # answered only with the access code given to the reporter.
    public_event_classes: list[str] = Field(default_factory=lambda: ["urban"])
    # XLSX read from outside (feeds, address files): refused before parsing when its parts unpack to more
    # than this in all, when its shared-strings table (kept in memory while reading) unpacks to more than
    # this, or when a part over 1 MB unpacks to more than this many times its packed size (core/xlsx.py).
    xlsx_max_unpacked_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    xlsx_max_shared_strings_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    xlsx_max_ratio: float = Field(default=100.0, ge=1)
    # Most rows one HTTP push may carry (POST /api/ingest/push/NAME): more is refused with 413, the body
    # kept in the inbox; a bigger feed goes in several pushes or as an upload.
    push_max_rows: int = Field(default=100_000, ge=1)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'gridgov.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
