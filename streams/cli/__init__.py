"""The ``streams`` command line: the worker, its client tools, and commands other packages add.

One module per command group, each thin over the library it drives (as faust's ``faust/cli/``):
:mod:`~streams.cli.worker` runs a worker, :mod:`~streams.cli.produce` and
:mod:`~streams.cli.tail` publish changes and print outcomes, :mod:`~streams.cli.audit` replays
and verifies; :mod:`~streams.cli.errors` turns bad settings and unreachable brokers into one
line, :mod:`~streams.cli.terminal` escapes what producers wrote before it is printed.

Other distributions add commands through the ``streams.commands`` entry-point group (its name
is the command's, its object a click command): the development kit (devkit/, installed by
``make``, never by ``pip install .`` nor in the image) adds ``demo``, ``emulator``, ``broker``,
``kafka`` and ``load`` that way. Nothing here imports the kit: without it ``streams --help``
lists none of its commands, and naming one says how to install it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Final

import click

from streams.cli.audit import replay, verify
from streams.cli.produce import produce
from streams.cli.tail import tail
from streams.cli.worker import worker

#: The entry-point group other distributions add commands to.
COMMANDS_GROUP: Final = "streams.commands"

#: The development kit's commands (devkit/pyproject.toml declares them in COMMANDS_GROUP), by
#: name only: without the kit, naming one says how to install it instead of "No such command".
DEVKIT_COMMANDS: Final = frozenset({"broker", "demo", "emulator", "kafka", "load"})


def devkit_missing(command: str, cause: ImportError | None = None) -> str:
    """What to say when ``streams COMMAND`` needs the development kit and it is not installed
    (``cause``: its entry point is declared but cannot be imported, as in a half-removed kit)."""
    found = f" ({cause})" if cause is not None else ""
    return (
        f"`streams {command}` is a development tool: it needs the development kit "
        "(conversation-custom-data-streams-devkit, devkit/ in the repository), which this "
        f"installation does not include (the worker image never does){found}. To install it, "
        "in a clone of the repository:\n"
        "  make demo   (or make test: both install it into .venv), or into your own venv:\n"
        "  pip install --require-hashes -r requirements/dev.lock && "
        "pip install --no-deps -e . -e ./devkit"
    )


def _load(entry_point: EntryPoint) -> click.Command | ModuleNotFoundError:
    """The command an entry point names, or why its module cannot be imported: an uninstalled
    kit can leave its metadata behind, and `streams --help` must still list the others."""
    try:
        command = entry_point.load()
    except ModuleNotFoundError as exc:
        return exc
    if not isinstance(command, click.Command):
        raise TypeError(f"entry point {entry_point.value} in {COMMANDS_GROUP} is not a command")
    return command


class StreamsGroup(click.Group):
    """The main group: its own commands, then those of the ``streams.commands`` entry points
    (looked up when listed or named, so running ``streams worker`` loads none of them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        added = {
            entry_point.name
            for entry_point in entry_points(group=COMMANDS_GROUP)
            if isinstance(_load(entry_point), click.Command)
        }
        return sorted(self.commands.keys() | added)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        loaded = [_load(e) for e in entry_points(group=COMMANDS_GROUP, name=cmd_name)]
        command = next((c for c in loaded if isinstance(c, click.Command)), None)
        if command is not None:
            return command
        cause = next((c for c in loaded if isinstance(c, ModuleNotFoundError)), None)
        if cmd_name in DEVKIT_COMMANDS:
            raise click.ClickException(devkit_missing(cmd_name, cause))
        if cause is not None:
            raise click.ClickException(f"`streams {cmd_name}` cannot be loaded: {cause}")
        return None


@click.group(cls=StreamsGroup)
def main() -> None:
    """Apply conversation custom-data changes from Kafka through Tencent Cloud Chat."""


main.add_command(worker)
main.add_command(produce)
main.add_command(tail)
main.add_command(replay)
main.add_command(verify)
