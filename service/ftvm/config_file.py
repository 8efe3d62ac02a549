"""`--config FILE`: the options of any command from a TOML file, read off the argparse parser itself (no list of
options to keep in step). A table per command, `[serve]`, `[gateway]`, `[call]`, `[agent]`, `[cluster.up]`; in it,
each key is a long option without its dashes, spelled as on the command line (`grpc-port = 50052`,
`no-gateway = true`), the value a TOML string, integer or float (run through the option's own argparse type, as
typed text would be) or, for a flag, true or false. An option given on the command line wins over the file, the file
over an environment variable's default. A key that is no option, a value of the wrong kind, a table that is no
command, a file that cannot be read or is not TOML: a `ConfigFileError` naming the file, table and key.

`ftvm --config FILE serve ...` and `ftvm serve --config FILE ...` are the same; the whole file is checked, every
table, whichever command runs.
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from collections.abc import Sequence
from typing import Any

OPTION = "--config"


class ConfigFileError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }


def _takes_options(parser: argparse.ArgumentParser) -> bool:
    return "-" in parser.prefix_chars  # not `ftvm bench NAME`, which hands every argument to the benchmark


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config on `parser` and every command under it that takes options."""
    if _takes_options(parser):
        parser.add_argument(
            OPTION,
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="TOML file of options, a table per command (e.g. [serve]); the command line wins",
        )
    for sub in _subcommands(parser).values():
        add_config_option(sub)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options a file may set, by long name without dashes."""
    return {
        name[2:]: action
        for action in parser._actions
        if action.dest not in ("help", "config")
        for name in action.option_strings
        if name.startswith("--")
    }


def config_path(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The FILE of `--config FILE` (or `--config=FILE`, or an abbreviation argparse would take) in `argv`."""
    found = None
    tokens = iter(argv)
    for token in tokens:
        if token == "--" or not _takes_options(parser):
            break
        name, equals, value = token.partition("=")
        if name.startswith("--"):
            matches = [o for o in parser._option_string_actions if o.startswith(name)]
            if name == OPTION or matches == [OPTION]:
                found = value if equals else next(tokens, None)
        elif token in _subcommands(parser):
            parser = _subcommands(parser)[token]
    return found


def apply(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Sets the defaults of `parser`'s commands from the file `argv` names with --config, if any."""
    path = config_path(parser, argv)
    if path is None:
        return
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise ConfigFileError(f"config file {path}: cannot read it: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"config file {path}: not TOML: {e}") from None
    _apply_table(parser, document, path, ())


def _apply_table(parser: argparse.ArgumentParser, table: dict[str, Any], path: str, where: tuple[str, ...]) -> None:
    commands = _subcommands(parser)
    options = _options(parser) if where else {}  # the top level has no options a file could set
    for key, value in table.items():
        if key in commands and isinstance(value, dict):
            _apply_table(commands[key], value, path, (*where, key))
        elif key in options:
            _set(parser, options[key], value, f"config file {path}: [{'.'.join(where)}] {key}")
        else:
            _unknown(key, value, commands, options, path, where)


def _unknown(
    key: str,
    value: Any,
    commands: dict[str, argparse.ArgumentParser],
    options: dict[str, argparse.Action],
    path: str,
    where: tuple[str, ...],
) -> None:
    place = f"config file {path}: " + (f"[{'.'.join(where)}] " if where else "")
    if key in commands:
        raise ConfigFileError(f"{place}{key} must be a table ([{'.'.join((*where, key))}]) of its options")
    if isinstance(value, dict) and not options:
        raise ConfigFileError(f"{place}[{key}] is not a command; commands: {', '.join(sorted(commands))}")
    known = sorted(options) or sorted(commands)
    close = difflib.get_close_matches(key.replace("_", "-"), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    raise ConfigFileError(f"{place}unknown key {key!r}{hint}")


def _set(parser: argparse.ArgumentParser, action: argparse.Action, value: Any, where: str) -> None:
    """The value as the option's default, checked and converted as argparse does typed text."""
    if isinstance(action, argparse._StoreConstAction):  # store_true, store_false
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where}: expected true or false, got {value!r}")
        converted = action.const if value else action.default
    elif type(action) is argparse._StoreAction and action.nargs is None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigFileError(f"{where}: expected a string or a number, got {value!r}")
        if action.type is None and not isinstance(value, str):
            raise ConfigFileError(f"{where}: expected a string, got {value!r}")
        converted = _convert(action, str(value), where)
        if action.choices is not None and converted not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise ConfigFileError(f"{where}: {value!r} is not one of {choices}")
    else:
        raise ConfigFileError(f"{where}: this option cannot be set in a config file")
    parser.set_defaults(**{action.dest: converted})
    action.required = False  # given by the file


def _convert(action: argparse.Action, text: str, where: str) -> Any:
    if action.type is None:
        return text
    assert callable(action.type)
    try:
        return action.type(text)
    except argparse.ArgumentTypeError as e:
        raise ConfigFileError(f"{where}: {e}") from None
    except (TypeError, ValueError):
        kind = getattr(action.type, "__name__", "value")
        raise ConfigFileError(f"{where}: invalid {kind} value: {text!r}") from None
