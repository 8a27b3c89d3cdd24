"""Find the config file, read ``.env`` and environment overrides, and build `Settings`.

Where values come from, strongest first:

1. environment variables (the real environment, then ``.env`` in the current directory):
   ``DATABASE_URL``, ``REDIS_URL``, ``LOG_LEVEL``, ``TICKLANE_LOG`` (alias ``RUST_LOG``),
   ``DATABENTO_API_KEY``, ``ALERT_WEBHOOK_URL``; an empty value counts as unset;
2. the config file: the explicit path (``-c FILE``), else
   ``$DATA_MANAGER_CONFIG_DIR/<run_mode>.toml``, else ``./config/<run_mode>.toml``;
3. built-in defaults, a complete configuration on their own (SQLite, memory cache, no Redis).

``<run_mode>`` is the ``run_mode`` argument, else ``RUN_MODE``, else ``development``. Every
problem raises `ConfigError` naming the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
import types
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import annotated_types
from dotenv import dotenv_values
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from ticklane.config.accounts import dotted_key
from ticklane.config.settings import (
    DEFAULT_RUN_MODE,
    LOADER_KEYS,
    RUN_MODES,
    LoggingConfig,
    RedactedUrl,
    RunMode,
    Settings,
    normalize_level,
)
from ticklane.core.errors import ConfigError

__all__ = [
    "ENV_OVERRIDES",
    "SectionsOff",
    "configure_logging",
    "find_config_file",
    "load_settings",
    "load_settings_switching_off",
    "parse_log_spec",
]

_log = logging.getLogger(__name__)

# Environment variable -> the key it overrides.
ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database", "url"),
    "REDIS_URL": ("cache", "redis", "url"),
    "DATABENTO_API_KEY": ("databento", "api_key"),
    "ALERT_WEBHOOK_URL": ("alerting", "webhook_url"),
    "LOG_LEVEL": ("logging", "level"),
}
_LOG_SPEC_VARS = ("TICKLANE_LOG", "RUST_LOG")  # first one set wins
_SECRET_FILE_KEYS = {
    ("databento", "api_key"): "DATABENTO_API_KEY",
    ("alerting", "webhook_url"): "ALERT_WEBHOOK_URL",
}


def load_settings(
    config_file: Path | None = None,
    *,
    run_mode: str | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> Settings:
    """Load, override and validate the configuration; ConfigError on any problem.

    `environ` defaults to `os.environ`; `dotenv_path` defaults to ``./.env`` when it exists.
    Values in `environ` win over those in the ``.env`` file. Neither is modified.
    """
    settings, _ = load_settings_switching_off(
        config_file, {}, run_mode=run_mode, environ=environ, dotenv_path=dotenv_path
    )
    return settings


class SectionsOff(NamedTuple):
    """Sections `load_settings_switching_off` switched off, and why (ConfigError's text)."""

    sections: tuple[str, ...]
    problems: str


def load_settings_switching_off(
    config_file: Path | None,
    optional: Mapping[str, Mapping[str, object]],
    *,
    run_mode: str | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> tuple[Settings, SectionsOff | None]:
    """``load_settings`` for a process that can run without some sections: when every problem
    lies in the sections named in `optional`, each of those sections that has one is replaced
    by its given "off" value (``{"enabled": False}``) and reported in the second value, for the
    caller to show; any other problem raises ConfigError as ``load_settings`` does."""
    env = _merged_environ(os.environ if environ is None else environ, dotenv_path)
    mode = _resolve_run_mode(run_mode, env)
    path = find_config_file(config_file, mode, env)
    data = _read_toml(path) if path is not None else {}
    _reject_loader_and_secret_keys(data, path)
    env_sources = _apply_env_overrides(data, env)
    data["run_mode"] = mode
    data["config_file"] = path
    off = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # `from None`: the pydantic error embeds input values, which may be secrets.
        message = _format_errors(exc, path, env_sources)
        broken = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        if not broken or not broken <= set(optional):
            raise ConfigError(message) from None
        for section in broken:
            data[section] = dict(optional[section])
        try:
            settings = Settings.model_validate(data)
        except ValidationError as again:
            raise ConfigError(_format_errors(again, path, env_sources)) from None
        off = SectionsOff(tuple(sorted(broken)), message)
    _log.debug("loaded configuration from %s (run mode %s)", path or "built-in defaults", mode)
    return settings, off


def find_config_file(
    config_file: Path | None, run_mode: str, environ: Mapping[str, str]
) -> Path | None:
    """The config file to read, as an absolute path, or None for built-in defaults."""
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist or is not a file")
        return path.resolve()
    config_dir = environ.get("DATA_MANAGER_CONFIG_DIR", "")
    if config_dir:
        directory = Path(config_dir).expanduser()
        if not directory.is_dir():
            raise ConfigError(
                f"DATA_MANAGER_CONFIG_DIR={config_dir} does not exist or is not a directory"
            )
        path = directory / f"{run_mode}.toml"
        if not path.is_file():
            raise ConfigError(f"DATA_MANAGER_CONFIG_DIR={config_dir} holds no {run_mode}.toml")
        return path.resolve()
    path = Path.cwd() / "config" / f"{run_mode}.toml"
    return path if path.is_file() else None


def parse_log_spec(spec: str, variable: str = "TICKLANE_LOG") -> tuple[str | None, dict[str, str]]:
    """Parse ``ticklane=info,psycopg=warning`` into (root level or None, {logger: level}).

    A bare level (``info,psycopg=warn``) sets the root level. Rust paths (``a::b``) become
    dotted logger names. `variable` names the source in error messages.
    """
    root: str | None = None
    levels: dict[str, str] = {}
    for raw_entry in spec.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, sep, level = (part.strip() for part in entry.partition("="))
        if not sep:
            name, level = "", name
        elif not name:
            raise ConfigError(f"{variable}: entry {entry!r} has no logger name before '='")
        try:
            normalized = normalize_level(level)
        except ValueError as exc:
            raise ConfigError(f"{variable}: entry {entry!r}: level {exc}") from None
        if name:
            levels[name.replace("::", ".")] = normalized
        else:
            root = normalized
    return root, levels


def configure_logging(settings: Settings | LoggingConfig) -> None:
    """Apply the root and per-logger levels to the stdlib `logging` module.

    Installs a plain stderr handler only when the root logger has none yet.
    """
    config = settings.logging if isinstance(settings, Settings) else settings
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(_level_number(config.level))
    for name, level in config.levels.items():
        logging.getLogger(name).setLevel(_level_number(level))


def _level_number(name: str) -> int:
    # "OFF" is above CRITICAL, so nothing passes.
    return logging.CRITICAL + 1 if name == "OFF" else logging.getLevelNamesMapping()[name]


# --------------------------------------------------------------------------------------------
# Environment and files
# --------------------------------------------------------------------------------------------


def _merged_environ(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    if dotenv_path is None:
        candidate = Path.cwd() / ".env"
        path = candidate if candidate.is_file() else None
    else:
        path = Path(dotenv_path).expanduser()
        if not path.is_file():
            raise ConfigError(f".env file {path} does not exist or is not a file")
    from_file: dict[str, str] = {}
    if path is not None:
        from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
    return {**from_file, **environ}


def _resolve_run_mode(run_mode: str | None, environ: Mapping[str, str]) -> RunMode:
    source = "run mode" if run_mode is not None else "RUN_MODE"
    text = (run_mode if run_mode is not None else environ.get("RUN_MODE", "")).strip()
    if not text:
        return DEFAULT_RUN_MODE
    for mode in RUN_MODES:
        if text.lower() == mode:
            return mode
    raise ConfigError(f"{source} {text!r} is not allowed; must be one of {', '.join(RUN_MODES)}")


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: config file is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        if match:
            line, where = int(match.group(1)), f"line {match.group(1)}, column {match.group(2)}"
        else:
            line, where = text.count("\n") + 1, "end of file"
        reason = message[: match.start()] if match else message.split("(at ")[0]
        raise ConfigError(f"{path}:{line}: invalid TOML: {reason.strip()} ({where})") from None


def _reject_loader_and_secret_keys(data: Mapping[str, Any], path: Path | None) -> None:
    for key in LOADER_KEYS:
        if key in data:
            raise ConfigError(
                f"{path}: unknown key {key!r}; allowed keys at top level: {_allowed_keys(())}"
            )
    for loc, variable in _SECRET_FILE_KEYS.items():
        section = data.get(loc[0])
        if isinstance(section, dict) and loc[1] in section:
            raise ConfigError(
                f"{path}: {dotted_key(loc)} must not be written in a file (it is a secret); "
                f"set the {variable} environment variable instead"
            )


def _apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Write environment overrides into `data`; return {key path: variable} for messages."""
    sources: dict[tuple[str, ...], str] = {}
    for variable, loc in ENV_OVERRIDES.items():
        value = environ.get(variable, "")
        if value and _set_nested(data, loc, value):
            sources[loc] = variable
    for variable in _LOG_SPEC_VARS:
        spec = environ.get(variable, "")
        if not spec:
            continue
        root, levels = parse_log_spec(spec, variable)
        if (
            root is not None
            and not environ.get("LOG_LEVEL")
            and _set_nested(data, ("logging", "level"), root)
        ):
            sources["logging", "level"] = variable
        section = data.get("logging", {})
        current = section.get("levels", {}) if isinstance(section, dict) else None
        if (
            levels
            and isinstance(current, dict)
            and _set_nested(data, ("logging", "levels"), {**current, **levels})
        ):
            sources["logging", "levels"] = variable
        break
    return sources


def _set_nested(data: dict[str, Any], loc: tuple[str, ...], value: object) -> bool:
    """Set data[a][b]... = value, creating tables; False if a non-table is in the way."""
    table = data
    for key in loc[:-1]:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            return False  # validation reports the non-table value itself
    table[loc[-1]] = value
    return True


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


def _format_errors(
    exc: ValidationError, path: Path | None, env_sources: Mapping[tuple[str, ...], str]
) -> str:
    origin = str(path) if path is not None else "built-in defaults (no config file)"
    lines = [f"invalid configuration in {origin}:"]
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = dotted_key(loc) or "(top level)"
        variable = next((var for src, var in env_sources.items() if loc[: len(src)] == src), None)
        where = f"{key} (from environment variable {variable})" if variable else key
        lines.append(f"  {where}: {_problem(error, loc)}")
    return "\n".join(lines)


def _problem(error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        here = f"in [{dotted_key(parent)}]" if parent else "at top level"
        return f"unknown key; allowed keys {here}: {_allowed_keys(parent)}"
    field = _field_at(loc)
    if kind == "value_error":
        allowed_text = str(error["msg"]).removeprefix("Value error, ")
    else:
        allowed = _describe(field) if field is not None else None
        allowed_text = f"must be {allowed}" if allowed else str(error["msg"])
    if kind == "missing":
        return f"required key is missing; {allowed_text}"
    value = error["input"]
    if (
        (field is not None and _is_secret(field.annotation))  # never echo a secret
        or not isinstance(value, str | int | float)  # a whole table: the message says what
        or "got " in allowed_text
    ):
        return allowed_text
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"got {shown}; {allowed_text}"


def _walk(loc: tuple[int | str, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model reached by following `loc` from `Settings`, and the last field passed."""
    model: type[BaseModel] | None = Settings
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue  # an index into a list of tables stays in that table's model
        if model is None:
            break  # inside a plain value (a list item, a dict key)
        field = model.model_fields.get(part)
        if field is None:
            return None, None
        model = _model_in(field.annotation)
    return model, field


def _field_at(loc: tuple[int | str, ...]) -> FieldInfo | None:
    return _walk(loc)[1]


def _allowed_keys(parent: tuple[int | str, ...]) -> str:
    model = _walk(parent)[0]
    if model is None:
        return "(none)"
    names = [name for name in model.model_fields if parent or name not in LOADER_KEYS]
    return ", ".join(names)


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Optional and Annotated removed."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in _unwrap(arg)]
    return [] if annotation is type(None) else [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for alternative in _unwrap(annotation):
        if get_origin(alternative) is tuple:
            return _model_in(get_args(alternative)[0])
        if isinstance(alternative, type) and issubclass(alternative, BaseModel):
            return alternative
    return None


def _is_secret(annotation: Any) -> bool:
    return any(alt in (RedactedUrl, SecretStr) for alt in _unwrap(annotation))


_KINDS: Mapping[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Decimal: "a decimal number",
    Path: "a path string",
    timedelta: 'a duration string such as "1d", "12h" or "30m"',
    RedactedUrl: "a URL",
    SecretStr: "a string",
}

_HINTS: Mapping[Any, str] = {Decimal: ', written as a string such as "10000" or an integer'}


def _describe(field: FieldInfo) -> str | None:
    """What a field accepts, e.g. ``an integer >= 1``, from its type and constraints."""
    alternatives = _unwrap(field.annotation)
    if not alternatives:
        return None
    first = alternatives[0]
    origin = get_origin(first)
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in get_args(first))
    if origin is tuple:
        kind = "an array of tables" if _model_in(first) else "a list of strings"
    elif origin is dict:
        kind = "a table of logger = level"
    elif isinstance(first, type) and issubclass(first, BaseModel):
        kind = "a table"
    else:
        kind = _KINDS.get(first, "")
    if not kind:
        return None
    bounds = []
    for constraint in field.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(constraint, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{symbol} {getattr(constraint, attr)}")
    text = " and ".join([f"{kind} {bounds[0]}", *bounds[1:]]) if bounds else kind
    return text + _HINTS.get(first, "")
