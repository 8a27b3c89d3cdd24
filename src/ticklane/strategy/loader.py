"""Loading a user strategy from a ``.py`` file, and the SHA-256 hashes that identify strategies.

A strategy file is any Python file that defines one concrete ``Strategy`` subclass (or several,
with a module-level ``STRATEGY = ClassName`` naming the one to use); see
``examples/strategies/breakout.py``. It is imported under a fresh module name each time, so
loading a file again picks up its edits. Only modules on the import path can be imported from
it (the file's own folder is not added).

Every result records the hash of the strategy that produced it (``strategy_hash``): for a
loaded file, the SHA-256 of the exact bytes that were executed; for a built-in, the SHA-256
of the module file that defines its class.

Problems raise ``StrategyLoadError`` (a ``BadDataError``) naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import os
import re
import sys
import traceback
import weakref
from pathlib import Path
from types import ModuleType

from ticklane.core.errors import BadDataError
from ticklane.strategy.base import Parameter, Strategy


class StrategyLoadError(BadDataError):
    """A strategy file could not be loaded: the message names the file and the problem."""


_module_numbers = itertools.count(1)
# The hash of the bytes each loaded class was executed from (the file may change afterwards).
_loaded_hashes: weakref.WeakKeyDictionary[type[Strategy], str] = weakref.WeakKeyDictionary()


def load_strategy_file(path: str | os.PathLike[str]) -> type[Strategy]:
    """Import ``path`` and return the Strategy subclass it defines."""
    file = Path(path)
    source = _read_source(file)
    module = _execute(file, source)
    cls = _pick_class(file, module)
    _check_class(file, cls)
    _loaded_hashes[cls] = hashlib.sha256(source).hexdigest()
    return cls


def strategy_file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks."""
    try:
        with open(path, "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as exc:
        raise _error(Path(path), f"cannot be read ({exc.strerror})") from None


def builtin_strategy_hash(cls: type[Strategy]) -> str:
    """SHA-256 (hex) of the source file of the module that defines ``cls``."""
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        source = None
    if source is None:
        raise StrategyLoadError(
            f"strategy {cls.__qualname__}: no source file to hash", field="strategy"
        )
    return strategy_file_hash(source)


def strategy_hash(strategy: Strategy) -> str:
    """The hash recorded with results: of the loaded file's bytes, or of a built-in's module."""
    loaded = _loaded_hashes.get(type(strategy))
    return loaded if loaded is not None else builtin_strategy_hash(type(strategy))


def _error(file: Path, problem: str) -> StrategyLoadError:
    return StrategyLoadError(f"strategy file {file}: {problem}", field="path", value=str(file))


def _read_source(file: Path) -> bytes:
    if file.suffix != ".py":
        raise _error(file, "not a .py file")
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise _error(file, "not found") from None
    except OSError as exc:
        raise _error(file, f"cannot be read ({exc.strerror})") from None


def _execute(file: Path, source: bytes) -> ModuleType:
    filename = str(file.resolve())
    stem = re.sub(r"\W", "_", file.stem)
    name = f"ticklane_user_strategy_{next(_module_numbers)}_{stem}"
    spec = importlib.util.spec_from_file_location(name, filename)
    if spec is None:
        raise _error(file, "cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        # dont_inherit: the file gets no __future__ flags from this module
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _error(file, f"line {exc.lineno}: SyntaxError: {exc.msg}") from exc
    except ValueError as exc:  # e.g. null bytes in the source
        raise _error(file, f"cannot be compiled: {exc}") from exc
    sys.modules[name] = module  # classes defined in it may look their module up while it runs
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        where = _line_in(filename, exc)
        problem = f"{type(exc).__name__}: {exc}"
        raise _error(file, f"{where}error while importing: {problem}") from exc
    return module


def _line_in(filename: str, exc: BaseException) -> str:
    """``"line N: "`` for the last line of the file in the traceback, else ``""``."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename:
            return f"line {frame.lineno}: "
    return ""


def _pick_class(file: Path, module: ModuleType) -> type[Strategy]:
    chosen = module.__dict__.get("STRATEGY")
    if chosen is not None:
        if not (isinstance(chosen, type) and issubclass(chosen, Strategy)):
            raise _error(file, f"STRATEGY = {chosen!r} is not a Strategy subclass")
        return chosen
    defined: list[type[Strategy]] = []
    for obj in module.__dict__.values():
        if (
            isinstance(obj, type)
            and issubclass(obj, Strategy)
            and obj.__module__ == module.__name__
            and obj not in defined  # the same class under two names counts once
        ):
            defined.append(obj)
    concrete = [cls for cls in defined if not inspect.isabstract(cls)]
    if len(concrete) == 1:
        return concrete[0]
    if len(concrete) > 1:
        names = ", ".join(cls.__name__ for cls in concrete)
        raise _error(
            file, f"defines several Strategy subclasses ({names}); set STRATEGY = <one of them>"
        )
    if defined:
        return defined[0]  # abstract: _check_class says which methods are missing
    raise _error(file, "defines no Strategy subclass (subclass ticklane.strategy.base.Strategy)")


def _check_class(file: Path, cls: type[Strategy]) -> None:
    label = f"class {cls.__name__}"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise _error(file, f"{label} does not implement {missing}")
    for attribute in ("name", "description"):
        value = getattr(cls, attribute, None)
        if not isinstance(value, str) or not value.strip():
            raise _error(file, f'{label} has no {attribute} (set {attribute} = "..." on it)')
    parameters = getattr(cls, "parameters", None)
    if not isinstance(parameters, tuple) or not all(isinstance(p, Parameter) for p in parameters):
        raise _error(file, f"{label}: parameters must be a tuple of Parameter objects")
