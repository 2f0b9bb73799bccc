"""Runtime settings, from FINCREDIT_* environment variables or an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerWitnessSetting(BaseModel):
    """A witness of the consent ledger: where it listens, and its cosignature verifier key."""

    url: str = Field(description="Base URL; the platform POSTs to <url>/add-checkpoint.")
    vkey: str = Field(description="<name>+<hex key id>+base64(0x04 || Ed25519 public key)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINCREDIT_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Where the embedded database, keys and MLflow live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<var_dir>/fincredit.db. PostgreSQL in production.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(None, description="Externally visible base URL (token audience, links).")

    # Key material. Unset in development: generated once under <var_dir>/keys with 0600 permissions.
    data_key: SecretStr | None = Field(
        None, description="base64 of 32 bytes: AES-256-GCM key for identifiers."
    )
    index_key: SecretStr | None = Field(None, description="base64 of 32 bytes: HMAC key of the blind index.")
    signing_key_file: Path | None = Field(None, description="PEM Ed25519 private key of the platform.")

    access_token_ttl_seconds: int = 600
    client_assertion_max_age_seconds: int = 300
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    ledger_origin: str = "fincredit.local/consent-ledger"
    gc_freeze: bool = Field(
        True,
        description="Freeze the objects alive after start-up out of the garbage collector's scans (a server "
        "process's latency tail); off where many apps start in one process, as in the test suite.",
    )
    change_poll_seconds: float = Field(
        0.5,
        gt=0,
        le=5,
        description="How often each service process reads the change epochs, at the latest (PostgreSQL also "
        "notifies at once): a policy or role change made elsewhere reaches it within this time.",
    )
    worker_start_timeout: int = Field(
        180,
        ge=5,
        description="Seconds a `serve --workers N` worker may take to start before it is restarted.",
    )
    federation_store_dir: Path | None = Field(
        None,
        description="Where the platform party keeps each running joint-modelling job's state between frames "
        "(PSI tables, training state: secrets, kept 0700). Every instance and Ray worker must see the same "
        "directory (a shared filesystem across hosts); default <var_dir>/federation.",
    )
    federation_ray: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Run the platform party's steps (PSI, training, encrypted scoring) as Ray tasks: on "
        "FINCREDIT_RAY_ADDRESS's cluster, or a local Ray started on first use. auto: when Ray is installed; "
        "off: in the service process.",
    )
    ledger_checkpoint_every: int = Field(
        256, ge=1, description="Sign a ledger checkpoint at least every N entries (and on demand)."
    )
    ledger_witnesses: list[LedgerWitnessSetting] = Field(
        default_factory=list,
        description='JSON [{"url": "http://witness.example:8090", "vkey": "<name>+<hex id>+<base64>"}]: the '
        "witnesses (`fincredit-consent witness serve`) each new checkpoint is submitted to; the published "
        "checkpoint carries their cosignatures.",
    )
    ledger_witness_quorum: int | None = Field(
        None, ge=0, description="How many of the witnesses readers should require; default all of them."
    )
    ledger_witness_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a witness's answer.")
    holiday_file: Path | None = Field(
        None,
        description="TOML of the State Council's yearly holiday notices ([2027] holidays = [...], workdays = "
        "[...]): used for the years it declares, before the chinesecalendar package's data.",
    )
    national_node_url: str | None = Field(
        None,
        description="Provincial node endpoint for financing results (G§12); default: the built-in receiver "
        "at <base_url>/national-node/v1/financing-results.",
    )
    national_node_token: SecretStr = Field(
        SecretStr("fincredit-dev-national-node"),
        description="Bearer token the platform presents to the node and the built-in receiver requires.",
    )
    national_reporting_node: str = Field("330200", description="This platform's node id (Ningbo).")
    drop_folders: Path | None = Field(
        None,
        description="Root of the providers' drop folders: `fincredit worker` takes the files in each "
        "subfolder <org_id>/ as that provider's submissions (the operator creates one per provider).",
    )
    task_schedules: dict[str, str] = Field(
        default_factory=dict,
        description='JSON {"<task>": "<cron>" or "off"}: changes the schedule of `fincredit worker` tasks '
        "(`fincredit worker --list` shows them).",
    )
    # Staff sign-in (R§18: account plus digital certificate). See infra/README.md, "Staff certificates".
    staff_ca_cert_file: Path | None = Field(
        None, description="PEM certificate of the staff CA; default generated once under <var_dir>/keys."
    )
    staff_ca_key_file: Path | None = Field(None, description="PEM private key of the staff CA.")
    staff_certificate_required: bool = Field(
        True,
        description="Institution staff sign in to the web pages with their password and a client certificate "
        "the staff CA issued. Off only for a demonstration over plain HTTP on one's own machine.",
    )
    client_cert_header: str = Field(
        "X-SSL-Client-Cert",
        description="Header in which the TLS-terminating reverse proxy passes the verified client "
        "certificate (nginx: $ssl_client_escaped_cert); believed only from trusted_proxies.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='JSON ["127.0.0.1"]: addresses of reverse proxies whose client-certificate header '
        "is believed.",
    )
    tls_cert_file: Path | None = Field(
        None,
        description="`serve` speaks HTTPS itself with this certificate (and tls_key_file), asking browsers "
        "for a client certificate of the staff CA (optional at the handshake: borrowers have none).",
    )
    tls_key_file: Path | None = Field(None, description="Private key of tls_cert_file.")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins of one account before it waits (30 s, doubling to 1 h)."
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="Failed sign-ins from one address (any accounts) before it waits, likewise."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.var_dir / 'fincredit.db').resolve()}"

    @property
    def resolved_federation_store(self) -> Path:
        return self.federation_store_dir or self.var_dir / "federation"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/oauth2/token"


@lru_cache
def get_settings() -> Settings:
    return Settings()
