"""Settings: one pydantic-settings class, from CALLGATE_* environment variables and an optional TOML file."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DB = "sqlite:///./callgate.db"
DEFAULT_HTTP = "127.0.0.1:8080"


def split_host_port(value: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT`, `HOST` or `:PORT` -> (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in {value!r}")
    return host or "127.0.0.1", int(port) if port else default_port


class TrunkSettings(BaseModel):
    """One `[[trunks]]` table of the TOML file."""

    name: str
    proxy: str = Field(
        description="sip: URI of the trunk's proxy, e.g. sip:sip.carrier.example;transport=tcp"
    )
    prefixes: list[str] = Field(default_factory=lambda: ["+"], description="E.164 prefixes routed here")
    username: str | None = None
    password: str | None = None
    sid: str | None = Field(
        None,
        pattern=r"^BY[0-9a-fA-F]{32}$",
        description="BYOC trunk sid (BY + 32 hex digits) that a call's Byoc parameter names",
    )
    accounts: list[str] = Field(
        default_factory=list, description="ids of the accounts that may name it by sid (empty: every one)"
    )

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str) -> str:
        from callgate.telephony.sip.errors import RemoteProtocolError
        from callgate.telephony.sip.uri import SipUri

        try:
            SipUri.parse(value)
        except RemoteProtocolError as exc:
            raise ValueError(f"trunk proxy {value!r}: {exc.reason}") from None
        return value


class Settings(BaseSettings):
    """Every setting of a Callgate process: from keyword arguments (the CLI's flags), then CALLGATE_*
    environment variables, then the TOML file named by CALLGATE_CONFIG_FILE, then the defaults."""

    model_config = SettingsConfigDict(env_prefix="CALLGATE_", extra="ignore")

    http: str = Field(DEFAULT_HTTP, description="HOST:PORT the HTTP API listens on")
    db: str = Field(DEFAULT_DB, description="database URL: sqlite:///path or postgresql://...")
    public_url: str | None = Field(None, description="base URL printed and used in links (default from http)")
    log_level: str = Field("info", description="debug, info, warning or error")
    trunks: list[TrunkSettings] = Field(default_factory=list, description="outbound SIP trunks ([[trunks]])")
    sandbox_sip: str = Field(
        "127.0.0.1:5080", description="HOST:PORT of the built-in sandbox phone network; empty to turn it off"
    )
    sandbox_process: bool = Field(
        True,
        description="run the sandbox in a process of its own (a core of its own, as a real far end); "
        "false: inside the process that places the calls",
    )
    sandbox_phones: str | None = Field(
        None, description="a TOML phone book of scripted sandbox phones ([[phones]], docs/SANDBOX.md)"
    )
    sandbox_recordings: str | None = Field(
        None, description="a folder where the sandbox keeps what it hears on each call (<Call-ID>.wav)"
    )
    tls_cert: str | None = Field(None, description="PEM certificate: serve HTTPS instead of HTTP")
    tls_key: str | None = Field(None, description="PEM private key of tls_cert")
    rates: dict[str, str] = Field(
        default_factory=dict,
        description='USD per minute by To prefix ([rates] "+1" = "0.0140"; "sip:" for SIP URIs; "*" else)',
    )
    recordings: str = Field("./recordings", description="folder where call recordings are kept (WAV)")
    recording_media_auth: bool = Field(
        False, description="require HTTP Basic on recording media URLs (Twilio's 'enforce HTTP auth')"
    )
    worker: bool = Field(
        True, description="run queued calls in this process (false: an API-only node; workers run them)"
    )
    sip: str = Field("127.0.0.1:0", description="HOST:PORT of the engine's SIP endpoint (UDP and TCP)")
    media_host: str | None = Field(None, description="address for RTP (default: the SIP host)")
    speech: Literal["library", "program"] = Field(
        "library",
        description="espeak-ng as the library the espeakng-loader wheel ships, in-process (no package to "
        "install), or as the espeak-ng program (Debian package espeak-ng)",
    )
    media_ports: Literal["per-call", "shared"] = Field(
        "per-call",
        description="RTP ports: a pair of each call's own (16384-32767), or one pair that every call "
        "of the process shares (packets sent and read in batches: less CPU a call; takes RTP only "
        "from the address each call's SDP gave)",
    )
    calls_per_second: float = Field(
        10.0, gt=0, description="calls dialled per second per account; more wait queued (queue_time)"
    )
    lease_s: float = Field(
        15.0, gt=0, description="seconds a worker's claim on a call lasts between heartbeats"
    )
    webhook_retry_horizon_s: float = Field(
        3600.0,
        ge=0,
        description="seconds after its first delivery that a failing callback is still delivered again "
        "(the last delivery is made at the horizon); then it is given up",
    )
    webhook_retry_s: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 30.0],
        description="seconds before the first deliveries again of a failing callback; after the last, "
        "each wait doubles up to webhook_retry_max_s (each drawn between its half and its whole)",
    )
    webhook_retry_max_s: float = Field(
        300.0, gt=0, description="the longest wait between two deliveries of a failing callback"
    )
    webhook_deliveries: int | None = Field(
        None,
        ge=1,
        description="at most this many deliveries of a failing callback (each with its URL's tries); "
        "unset: until webhook_retry_horizon_s. A URL with #rc or #rp gets only the tries they say",
    )
    webhook_allow_loopback: bool = Field(True, description="allow webhooks to 127.0.0.0/8 and ::1")
    webhook_allow_private: bool = Field(
        False, description="allow webhooks to private, link-local and other non-public addresses"
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list, description="host names or CIDRs webhooks may reach even if not public"
    )

    @field_validator("webhook_retry_s")
    @classmethod
    def _check_retry_s(cls, value: list[float]) -> list[float]:
        if any(wait <= 0 for wait in value):
            raise ValueError("the waits between deliveries of a callback must be positive")
        return value

    @field_validator("http")
    @classmethod
    def _check_http(cls, value: str) -> str:
        split_host_port(value, 8080)
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("give both tls_cert and tls_key (--tls-cert/--tls-key), or neither")
        return self

    def sip_trunks(self) -> tuple[Any, ...]:
        """The `[[trunks]]` as `callgate.telephony.routing.Trunk` values, for `routing.route`."""
        from callgate.telephony.routing import Trunk

        return tuple(
            Trunk(t.name, t.proxy, tuple(t.prefixes), t.username, t.password, t.sid, frozenset(t.accounts))
            for t in self.trunks
        )

    @property
    def http_host_port(self) -> tuple[str, int]:
        return split_host_port(self.http, 8080)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.http_host_port
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[Any] = [init_settings, env_settings]
        path = os.environ.get("CALLGATE_CONFIG_FILE")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)
