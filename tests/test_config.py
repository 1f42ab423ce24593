"""Configuration precedence, environment names and one-line errors naming file, key, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactlib.config import KEYS, env_name, load_config
from impactlib.errors import ConfigError


def test_defaults_and_sources(tmp_path: Path) -> None:
    config = load_config(environ={}, cwd=tmp_path)
    assert config.pue == 1.0 and config.interval == 1.0 and config.save_interval == 10.0
    assert config.idle_policy == "usage" and config.scope == "tree"
    assert config.sources["pue"] == "default"


def test_every_key_has_an_environment_variable(tmp_path: Path) -> None:
    assert env_name("save_interval") == "IMPACTLIB_SAVE_INTERVAL"
    env = {
        "IMPACTLIB_COUNTRY": "DE",
        "IMPACTLIB_PUE": "1.4",
        "IMPACTLIB_INTERVAL": "0.5",
        "IMPACTLIB_SAVE_INTERVAL": "3",
        "IMPACTLIB_STORE": "/x/y.db",
        "IMPACTLIB_SCOPE": "machine",
        "IMPACTLIB_IDLE_POLICY": "allocation",
    }
    config = load_config(environ=env, cwd=tmp_path)
    assert (config.country, config.pue, config.interval, config.save_interval) == (
        "DE",
        1.4,
        0.5,
        3.0,
    )
    assert (config.store, config.scope, config.idle_policy) == ("/x/y.db", "machine", "allocation")
    assert config.sources["pue"] == "env IMPACTLIB_PUE"
    assert set(KEYS) >= {
        "country",
        "pue",
        "interval",
        "save_interval",
        "store",
        "scope",
        "idle_policy",
    }


def test_precedence_argument_env_project_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_dir = tmp_path / "xdg"
    (user_dir / "impactlib").mkdir(parents=True)
    (user_dir / "impactlib" / "config.toml").write_text(
        'country = "US"\npue = 1.1\nproject = "u"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user_dir))
    work = tmp_path / "repo" / "sub"
    work.mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.impactlib]\ncountry = "FR"\npue = 1.2\n'
    )
    config = load_config({"pue": 1.5}, environ={"IMPACTLIB_COUNTRY": "DE"}, cwd=work)
    assert config.pue == 1.5 and config.sources["pue"] == "argument"
    assert config.country == "DE"
    assert config.project == "u" and "config.toml" in config.sources["project"]
    config = load_config(environ={}, cwd=work)
    assert config.country == "FR" and "pyproject.toml" in config.sources["country"]
    (tmp_path / "repo" / "impactlib.toml").write_text('country = "ES"\n')
    assert load_config(environ={}, cwd=work).country == "ES"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"IMPACTLIB_PUE": "0.5"}, "invalid value '0.5' for 'pue'; allowed: a number >= 1.0"),
        ({"IMPACTLIB_IDLE_POLICY": "fair"}, "allowed: usage, allocation or none"),
        ({"IMPACTLIB_INTERVAL": "0"}, "'interval'; allowed: seconds > 0"),
        ({"IMPACTLIB_SCOPE": "cluster"}, "tree or machine"),
        ({"IMPACTLIB_PUE": "nan"}, "for 'pue'"),
    ],
)
def test_bad_environment_values_name_variable_key_and_allowed(
    env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=env, cwd=tmp_path)
    message = str(info.value)
    assert needle in message and "environment variable IMPACTLIB_" in message
    assert "\n" not in message


def test_bad_file_value_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text('pue = "high"\n')
    with pytest.raises(ConfigError, match=r"impactlib.toml: invalid value 'high' for 'pue'"):
        load_config(environ={}, cwd=tmp_path)


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text("save_intervall = 3\n")
    with pytest.raises(ConfigError, match="did you mean save_interval"):
        load_config(environ={}, cwd=tmp_path)


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text("pue = = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(environ={}, cwd=tmp_path)


def test_logging_is_imported_only_when_something_is_logged() -> None:
    import subprocess
    import sys

    code = (
        "import sys, impactlib.tracker, impactlib.sampling\n"
        "assert 'logging' not in sys.modules, 'logging imported eagerly'\n"
        "from impactlib.log import log\n"
        "log.warning('impactlib: test message')\n"
        "assert 'logging' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "impactlib: test message" in result.stderr
