import pytest

from callgate.config import Settings, split_host_port


def test_defaults(monkeypatch):
    for var in ("CALLGATE_HTTP", "CALLGATE_DB", "CALLGATE_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert (settings.http, settings.db) == ("127.0.0.1:8080", "sqlite:///./callgate.db")
    assert settings.base_url == "http://127.0.0.1:8080"


def test_environment_then_toml_file(monkeypatch, tmp_path):
    toml = tmp_path / "callgate.toml"
    toml.write_text('http = "127.0.0.1:9001"\ndb = "sqlite:////tmp/from-file.db"\nlog_level = "warning"\n')
    monkeypatch.setenv("CALLGATE_CONFIG_FILE", str(toml))
    monkeypatch.delenv("CALLGATE_HTTP", raising=False)
    monkeypatch.setenv("CALLGATE_DB", "sqlite:////tmp/from-env.db")
    settings = Settings()
    assert settings.http == "127.0.0.1:9001"  # from the file
    assert settings.db == "sqlite:////tmp/from-env.db"  # the environment wins over the file
    assert settings.log_level == "warning"
    assert Settings(db="sqlite:////tmp/flag.db").db == "sqlite:////tmp/flag.db"  # flags win over both


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:9000", ("::1", 9000)), (":7000", ("127.0.0.1", 7000))],
)
def test_host_port(value, expected):
    assert split_host_port(value, 8080) == expected


def test_bad_port_is_refused():
    with pytest.raises(ValueError, match="bad port"):
        Settings(http="127.0.0.1:http")


def test_ipv6_base_url():
    assert Settings(http="[::1]:8080").base_url == "http://[::1]:8080"


def test_trunks_from_the_toml_file(monkeypatch, tmp_path):
    toml = tmp_path / "trunks.toml"
    toml.write_text(
        '[[trunks]]\nname = "carrier"\nproxy = "sip:sip.carrier.example;transport=tcp"\n'
        'prefixes = ["+1", "+44"]\nusername = "acme"\npassword = "pw"\n'
    )
    monkeypatch.setenv("CALLGATE_CONFIG_FILE", str(toml))
    (trunk,) = Settings().sip_trunks()
    assert (trunk.name, trunk.prefixes, trunk.username) == ("carrier", ("+1", "+44"), "acme")
    toml.write_text('[[trunks]]\nname = "bad"\nproxy = "http://nope"\n')
    with pytest.raises(ValueError, match="trunk proxy"):
        Settings()


def test_a_trunks_byoc_sid_is_checked_and_carried():
    settings = Settings(trunks=[{"name": "t", "proxy": "sip:127.0.0.1:5070", "sid": "BY" + "1" * 32,
                                 "accounts": ["a"]}])  # fmt: skip
    (trunk,) = settings.sip_trunks()
    assert (trunk.sid, trunk.accounts) == ("BY" + "1" * 32, frozenset({"a"}))
    with pytest.raises(ValueError, match="sid"):
        Settings(trunks=[{"name": "t", "proxy": "sip:127.0.0.1:5070", "sid": "BY123"}])


def test_failing_callbacks_are_retried_for_an_hour_by_default(monkeypatch):
    for var in ("CALLGATE_WEBHOOK_DELIVERIES", "CALLGATE_WEBHOOK_RETRY_HORIZON_S", "CALLGATE_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.webhook_retry_horizon_s >= 3600
    assert settings.webhook_deliveries is None, "no cap on the deliveries: the horizon decides"
    monkeypatch.setenv("CALLGATE_WEBHOOK_RETRY_HORIZON_S", "86400")
    monkeypatch.setenv("CALLGATE_WEBHOOK_RETRY_S", "[0.5]")
    assert (Settings().webhook_retry_horizon_s, Settings().webhook_retry_s) == (86400, [0.5])


@pytest.mark.parametrize("waits", [[0.0], [1.0, -5.0]])
def test_waits_between_deliveries_must_be_positive(waits):
    with pytest.raises(ValueError, match="must be positive"):
        Settings(webhook_retry_s=waits)
