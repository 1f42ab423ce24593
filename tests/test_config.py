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


# --- lenient mode: what impactlib.init() uses, so the environment never kills training ----------


def test_lenient_bad_variable_falls_back_to_the_default_and_says_so(tmp_path: Path) -> None:
    config = load_config(environ={"IMPACTLIB_PUE": "abc"}, cwd=tmp_path, lenient=True)
    assert config.pue == 1.0
    assert config.sources["pue"] == "default (env IMPACTLIB_PUE ignored)"
    (problem,) = config.problems
    for needle in ("IMPACTLIB_PUE", "'abc'", "'pue'", "allowed: a number >= 1.0", "using 1.0"):
        assert needle in problem, problem
    assert "\n" not in problem


def test_lenient_bad_variable_falls_back_to_the_next_lower_layer(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text("pue = 1.3\n")
    env = {"IMPACTLIB_PUE": "0.5", "IMPACTLIB_SCOPE": "cluster", "IMPACTLIB_COUNTRY": "DE"}
    config = load_config(environ=env, cwd=tmp_path, lenient=True)
    assert config.pue == 1.3 and config.scope == "tree" and config.country == "DE"
    project_file = str(tmp_path / "impactlib.toml")
    assert config.sources["pue"] == f"{project_file} (env IMPACTLIB_PUE ignored)"
    assert config.sources["scope"] == "default (env IMPACTLIB_SCOPE ignored)"
    assert len(config.problems) == 2
    assert any(f"using 1.3 ({project_file})" in p for p in config.problems)
    assert any("tree or machine" in p and "using 'tree' (default)" in p for p in config.problems)


def test_lenient_bad_file_value_overridden_by_a_good_variable(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text('pue = "high"\ninterval = 2\n')
    config = load_config(environ={"IMPACTLIB_PUE": "1.2"}, cwd=tmp_path, lenient=True)
    assert config.pue == 1.2 and config.sources["pue"] == "env IMPACTLIB_PUE"
    assert config.interval == 2.0  # the rest of the file still counts
    (problem,) = config.problems
    assert "impactlib.toml: invalid value 'high' for 'pue'" in problem
    assert "using 1.2 (env IMPACTLIB_PUE)" in problem


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"pue = = 2\n", "not valid TOML"),
        (b"pue = 1.5\n\xff\xfe\n", "not valid TOML"),  # not UTF-8
    ],
)
def test_lenient_broken_file_is_ignored_whole(content: bytes, needle: str, tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_bytes(content)
    config = load_config(environ={}, cwd=tmp_path, lenient=True)
    assert config.pue == 1.0 and config.sources["pue"] == "default"
    (problem,) = config.problems
    assert needle in problem and "the whole file was ignored" in problem
    assert str(tmp_path / "impactlib.toml") in problem and "\n" not in problem
    with pytest.raises(ConfigError, match=needle):  # the CLI's strict mode still refuses
        load_config(environ={}, cwd=tmp_path)


def test_lenient_unreadable_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "impactlib.toml"
    target.write_text("pue = 1.5\n")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == target:  # CI runs as root: the permission error is injected, not chmod-ed
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", refuse)
    config = load_config(environ={}, cwd=tmp_path, lenient=True)
    assert config.pue == 1.0
    (problem,) = config.problems
    assert "cannot be read (Permission denied)" in problem


def test_lenient_unknown_file_key_is_ignored_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text("save_intervall = 3\nproject = 'p'\n")
    config = load_config(environ={}, cwd=tmp_path, lenient=True)
    assert config.save_interval == 10.0 and config.project == "p"
    (problem,) = config.problems
    assert "did you mean save_interval" in problem and problem.endswith("; ignored")


def test_lenient_still_raises_for_wrong_arguments_as_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid value 0.5 for 'pue'"):
        load_config({"pue": 0.5}, environ={}, cwd=tmp_path, lenient=True)
    with pytest.raises(ConfigError, match="unknown key 'peu'"):
        load_config({"peu": 1.2}, environ={}, cwd=tmp_path, lenient=True)


def test_use_ratio_above_one_falls_back_like_any_bad_value(tmp_path: Path) -> None:
    env = {"IMPACTLIB_EMBODIED_USE_RATIO": "1.5"}
    with pytest.raises(ConfigError, match=r"'embodied_use_ratio'; allowed: a fraction in \(0, 1\]"):
        load_config(environ=env, cwd=tmp_path)
    config = load_config(environ=env, cwd=tmp_path, lenient=True)
    assert config.embodied_use_ratio is None and len(config.problems) == 1
    whole = load_config({"embodied_use_ratio": 1.0}, environ={}, cwd=tmp_path)
    assert whole.embodied_use_ratio == 1.0


def test_lenient_survives_a_deleted_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    config = load_config(environ={}, lenient=True)
    assert config.pue == 1.0
    (problem,) = config.problems
    assert "working directory" in problem
    with pytest.raises(ConfigError, match="working directory"):
        load_config(environ={})


def test_clean_environment_has_no_problems_in_either_mode(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text("pue = 1.1\n")
    env = {"IMPACTLIB_COUNTRY": "FR"}
    lenient = load_config(environ=env, cwd=tmp_path, lenient=True)
    strict = load_config(environ=env, cwd=tmp_path)
    assert lenient == strict and lenient.sources == strict.sources
    assert lenient.problems == () == strict.problems


# --- names that are no setting -------------------------------------------------------------


def test_an_unknown_variable_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    env = {"IMPACTLIB_PEU": "1.4", "IMPACTLIB_COUNTRY": "FR"}
    for lenient in (False, True):  # never an error: the environment is the user's shell
        config = load_config(environ=env, cwd=tmp_path, lenient=lenient)
        (line,) = config.unknown_variables
        assert "IMPACTLIB_PEU" in line and "did you mean IMPACTLIB_PUE?" in line
        assert config.pue == 1.0 and config.country == "FR" and config.problems == ()


def test_variables_impactlib_sets_itself_are_not_typos(tmp_path: Path) -> None:
    from impactlib.config import OTHER_VARIABLES

    env = {name: "x" for name in OTHER_VARIABLES} | {env_name(k): "" for k in KEYS}
    assert "IMPACTLIB_RUN_ID" in OTHER_VARIABLES
    assert load_config(environ=env, cwd=tmp_path).unknown_variables == ()


def test_a_variable_far_from_any_setting_is_named_without_a_guess(tmp_path: Path) -> None:
    config = load_config(environ={"IMPACTLIB_ZZZZZZZZZZZZ": "1"}, cwd=tmp_path)
    (line,) = config.unknown_variables
    assert "IMPACTLIB_ZZZZZZZZZZZZ" in line and "did you mean" not in line


# --- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://alice:secret@db.lab/impact", "postgresql://alice:***@db.lab/impact"),
        (
            "postgresql+psycopg://alice:s%40c:ret@db:5433/impact?sslmode=require",
            "postgresql+psycopg://alice:***@db:5433/impact?sslmode=require",
        ),
        (
            "postgresql://db/impact?user=alice&password=secret",
            "postgresql://db/impact?user=alice&password=***",
        ),
        ("postgresql://alice@db/impact", "postgresql://alice@db/impact"),
        ("/home/alice/impactlib.db", "/home/alice/impactlib.db"),
    ],
)
def test_a_store_urls_password_never_reaches_a_record(
    tmp_path: Path, url: str, masked: str
) -> None:
    config = load_config({"store": url, "electricitymaps_key": "k3y"}, environ={}, cwd=tmp_path)
    values = config.public_dict()
    assert values["store"] == masked and values["electricitymaps_key"] == "***"
    assert "secret" not in str(values) and "k3y" not in str(values)
    assert config.store == url  # the tracker itself still connects with it
