"""Settings are read once from the environment, validated, and refused with one line naming the variable."""
import dataclasses
import os

import pytest

from config.settings import Settings, SettingsError

# The README's "Settings" table: variable -> (field, default, lowest, highest).
INTEGER_SETTINGS = {
    "PORT": ("port", 8000, 0, 65535),
    "WORKERS": ("workers", os.cpu_count(), 1, 64),  # one worker per core by default
    "GREENROW_SHARDS": ("shards", 256, 1, 65536),
    "GREENROW_POOL_SIZE": ("pool_size", 3, 2, 200),
    "GREENROW_POOL_TIMEOUT_MS": ("pool_timeout_ms", 5000, 10, 600_000),
    "GREENROW_STATEMENT_TIMEOUT_MS": ("statement_timeout_ms", 30_000, 100, 3_600_000),
    "GREENROW_DB_NETWORK_TIMEOUT_MS": ("db_network_timeout_ms", 10_000, 1000, 600_000),
    "GREENROW_LEASE_TTL_MS": ("lease_ttl_ms", 5000, 500, 600_000),
    "GREENROW_MAX_RESTARTS": ("max_restarts", 3, 0, 1000),
    "GREENROW_MAX_SECONDS": ("max_seconds", 5, 1, 3600),
    "GREENROW_RESTART_BACKOFF_MS": ("restart_backoff_ms", 100, 0, 60_000),
    "GREENROW_TICK_BATCH_MS": ("tick_batch_ms", 5, 0, 1000),
    "GREENROW_TICK_BATCH_MAX": ("tick_batch_max", 5000, 1, 100_000),
    "GREENROW_INBOX_MAX": ("inbox_max", 1000, 1, 1_000_000),
    "GREENROW_MAX_UNFINISHED_ROWS": ("max_unfinished_rows", 2_000_000, 1, 1_000_000_000),
    "GREENROW_MAX_TICK_RATE": ("max_tick_rate", 200_000, 1, 100_000_000),
    "GREENROW_MAX_EVENT_STREAMS": ("max_event_streams", 64, 0, 10_000),
    "GREENROW_MAX_CALLS_IN_FLIGHT": ("max_calls_in_flight", 1000, 0, 100_000),
    "GREENROW_IDEMPOTENCY_TTL_S": ("idempotency_ttl_s", 86400, 1, 30 * 86400),
    "GREENROW_RETAIN_FINISHED_RUNS_S": ("retain_finished_runs_s", None, 1, 3_153_600_000),  # unset: keep forever
}

DEFAULTS = {
    "database_url": "",
    "host": "127.0.0.1",
    "log_level": "info",
    "fault_injection": False,
    "api_tokens": (),
    "metrics_tokens": (),
    "log_format": "text",
    **{field: default for field, default, _, _ in INTEGER_SETTINGS.values()},
}


ADMIN, ROTATED, SCRAPER = "a" * 16, "0123456789abcdef0123", "scraper-token-0123"


def bad_values():
    values = []
    for name, (_, _, low, high) in INTEGER_SETTINGS.items():
        for value in ("soon", "1.5", "0x10", "ten", str(low - 1), str(high + 1)):
            values.append(pytest.param(name, value, id=f"{name}={value}"))
    for value in ("verbose", "critical", "0"):
        values.append(pytest.param("LOG_LEVEL", value, id=f"LOG_LEVEL={value}"))
    for value in ("yaml", "logfmt"):
        values.append(pytest.param("LOG_FORMAT", value, id=f"LOG_FORMAT={value}"))
    return values


def test_an_empty_environment_gives_the_documented_defaults():
    assert dataclasses.asdict(Settings.from_env({})) == DEFAULTS


def test_every_variable_is_read_from_the_environment():
    env = {"DATABASE_URL": "postgresql://db.example/greenrow", "HOST": "0.0.0.0", "LOG_LEVEL": "warning",
           "GREENROW_API_TOKEN": f"{ADMIN}, {ROTATED}", "GREENROW_METRICS_TOKEN": SCRAPER,
           "GREENROW_FAULT_INJECTION": "1", "LOG_FORMAT": "json"}
    expected = {"database_url": env["DATABASE_URL"], "host": "0.0.0.0", "log_level": "warning",
                "api_tokens": (ADMIN, ROTATED), "metrics_tokens": (SCRAPER,), "fault_injection": True,
                "log_format": "json"}
    for name, (field, default, low, high) in INTEGER_SETTINGS.items():
        value = high if default != high else low
        env[name] = str(value)
        expected[field] = value

    assert dataclasses.asdict(Settings.from_env(env)) == expected


@pytest.mark.parametrize("name", INTEGER_SETTINGS)
def test_both_ends_of_each_range_are_accepted(name):
    field, _, low, high = INTEGER_SETTINGS[name]

    assert getattr(Settings.from_env({name: str(low)}), field) == low
    assert getattr(Settings.from_env({name: str(high)}), field) == high


@pytest.mark.parametrize("name, value", bad_values())
def test_a_bad_value_raises_settings_error_with_one_line_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})

    message = str(raised.value)
    assert message.startswith(name + " must be")
    assert "\n" not in message
    assert value in message


def test_a_bad_value_with_a_newline_still_gives_a_one_line_message():
    for name in ("GREENROW_SHARDS", "LOG_LEVEL"):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env({name: "12\nlines"})
        assert "\n" not in str(raised.value) and name in str(raised.value)


def test_an_empty_integer_or_host_variable_means_its_default():
    env = {name: "" for name in INTEGER_SETTINGS} | {"HOST": ""}

    assert dataclasses.asdict(Settings.from_env(env)) == DEFAULTS


def test_an_empty_log_level_means_the_default_like_every_other_variable():
    assert Settings.from_env({"LOG_LEVEL": ""}).log_level == "info"


def test_log_level_is_read_in_any_case():
    assert Settings.from_env({"LOG_LEVEL": "DEBUG"}).log_level == "debug"
    assert Settings.from_env({"LOG_LEVEL": "Error"}).log_level == "error"


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_settings_are_frozen():
    settings = Settings.from_env({})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1


def test_without_database_url_require_database_says_so_in_one_line():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({}).require_database()

    assert str(raised.value).startswith("DATABASE_URL is not set")
    assert "\n" not in str(raised.value)


def test_with_database_url_require_database_gives_the_settings_back():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://db.example/greenrow"})

    assert settings.require_database() is settings


def test_without_an_env_argument_the_process_environment_is_read(monkeypatch):
    monkeypatch.setenv("GREENROW_SHARDS", "17")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    settings = Settings.from_env()

    assert settings.shards == 17 and settings.log_level == "warning"


@pytest.mark.parametrize("value", ["short", "with space in it, fine-token-0123", "tøken-with-non-ascii-x"])
def test_a_token_too_short_or_with_spaces_is_refused_in_one_line_without_echoing_it(value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"GREENROW_API_TOKEN": value})

    message = str(raised.value)
    assert message.startswith("GREENROW_API_TOKEN must be") and "\n" not in message
    assert value not in message  # a secret, even a bad one, is not printed


def test_an_open_api_listening_beyond_loopback_gets_a_warning():
    assert Settings.from_env({"HOST": "0.0.0.0"}).exposure_warning().startswith("greenrow: WARNING")
    assert Settings.from_env({"HOST": "0.0.0.0", "GREENROW_API_TOKEN": ADMIN}).exposure_warning() is None
    assert Settings.from_env({}).exposure_warning() is None  # 127.0.0.1


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_fault_injection_is_0_or_1(value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"GREENROW_FAULT_INJECTION": value})
    assert str(raised.value).startswith("GREENROW_FAULT_INJECTION must be 0 or 1")
