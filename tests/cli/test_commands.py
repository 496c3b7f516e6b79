"""The main group: the worker's own commands, and the ones other distributions add through the
``streams.commands`` entry points (the development kit's, here installed by ``make``).

Without the kit installed (its modules and metadata hidden), tests/k8s/test_worker_install.py
runs the command line and checks it lists none of the kit's commands.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

import click
import pytest
from click.testing import CliRunner

import streams.cli
from streams.cli import COMMANDS_GROUP, DEVKIT_COMMANDS, main

OWN_COMMANDS = ("produce", "replay", "tail", "verify", "worker")

#: Every module of streams.cli imported, and its own commands' help shown: what is in
#: sys.modules then is what the worker's command line imports.
IMPORTS = """
import importlib
import pkgutil
import sys

import streams.cli

for module in pkgutil.walk_packages(streams.cli.__path__, "streams.cli."):
    importlib.import_module(module.name)
for command in ("worker", "produce", "tail", "replay", "verify"):
    streams.cli.main([command, "--help"], standalone_mode=False)
print(sorted(name for name in sys.modules if name.partition(".")[0] == "streams_devkit"))
"""


def test_the_worker_command_line_imports_nothing_of_the_devkit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_the_devkit_commands_come_through_its_entry_points() -> None:
    declared = {e.name: e for e in entry_points(group=COMMANDS_GROUP)}
    assert declared.keys() == DEVKIT_COMMANDS
    context = click.Context(main)
    for name, entry_point in declared.items():
        assert entry_point.dist is not None
        assert entry_point.dist.name == "conversation-custom-data-streams-devkit"
        assert entry_point.module.startswith("streams_devkit.")
        command = main.get_command(context, name)
        assert command is entry_point.load()
        assert command.name == name
    assert main.list_commands(context) == sorted(DEVKIT_COMMANDS | set(OWN_COMMANDS))


def test_help_lists_own_and_added_commands() -> None:
    listing = CliRunner().invoke(main, ["--help"])
    assert listing.exit_code == 0, listing.output
    for name in (*OWN_COMMANDS, *DEVKIT_COMMANDS):
        assert f"  {name} " in listing.output


def only(*declared: EntryPoint) -> Callable[..., list[EntryPoint]]:
    """``entry_points`` as if these were all that the installed distributions declare."""

    def found(*, group: str, name: str | None = None) -> list[EntryPoint]:
        return [e for e in declared if e.group == group and name in (None, e.name)]

    return found


def test_a_command_whose_module_is_gone_is_not_listed_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone = EntryPoint("audit-trail", "streams_audit_plugin.cli:command", COMMANDS_GROUP)
    monkeypatch.setattr(streams.cli, "entry_points", only(gone))
    runner = CliRunner()
    assert "audit-trail" not in runner.invoke(main, ["--help"]).output
    done = runner.invoke(main, ["audit-trail"])
    assert done.exit_code == 1
    assert "`streams audit-trail` cannot be loaded: No module named 'streams_audit_plugin'" in (
        done.output
    )


def test_a_devkit_command_without_the_devkit_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams.cli, "entry_points", only())
    runner = CliRunner()
    assert "demo" not in runner.invoke(main, ["--help"]).output
    done = runner.invoke(main, ["demo"])
    assert done.exit_code == 1
    assert "`streams demo` is a development tool" in done.output
    assert "pip install --no-deps -e . -e ./devkit" in done.output
    unknown = runner.invoke(main, ["nonsense"])
    assert unknown.exit_code == 2
    assert "No such command 'nonsense'" in unknown.output


def test_an_entry_point_that_is_not_a_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = EntryPoint("group", "streams.cli:COMMANDS_GROUP", COMMANDS_GROUP)
    monkeypatch.setattr(streams.cli, "entry_points", only(wrong))
    with pytest.raises(TypeError, match=r"streams.cli:COMMANDS_GROUP .* is not a command"):
        main.get_command(click.Context(main), "group")
