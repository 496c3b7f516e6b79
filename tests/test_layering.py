"""Imports run one way: engine -> window -> core, and the window never reaches a stream engine.

Read from the source with ``ast`` (every import statement, ``TYPE_CHECKING`` blocks and
function bodies included), so a forbidden import fails here even on a path no test runs; and
imported in a fresh interpreter, so an engine loaded through another module's imports (the
settings', say) fails here too.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import streams

ROOT = Path(streams.__file__).parent
#: What the window's modules may import of the project; third-party libraries other than the
#: engines below are theirs to choose.
WINDOW_MAY_IMPORT = (
    "streams.core",
    "streams.sdk",
    "streams.contract",
    "streams.errors",
    "streams.request_budget",
    "streams.window",
)
ENGINES = ("faust", "mode", "aiokafka")
LAYERS = ("streams.core", "streams.window", "streams.engine")


def modules(package: str) -> Iterator[tuple[str, Path]]:
    """Every module of ``package`` (a subpackage of streams), with its source file."""
    path = ROOT.joinpath(*package.split(".")[1:])
    yield package, path / "__init__.py"
    for info in pkgutil.iter_modules([str(path)]):
        name = f"{package}.{info.name}"
        if info.ispkg:
            yield from modules(name)
        else:
            yield name, path / f"{info.name}.py"


def imports(module: str, source: Path) -> set[str]:
    """The absolute names ``module`` imports (``from a import b`` as ``a.b``: b may be a
    module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                if source.name != "__init__.py":
                    parts = parts[:-1]
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def test_the_window_imports_no_engine_and_only_its_allowed_layers() -> None:
    wrong: dict[str, list[str]] = {}
    checked = 0
    for module, source in modules("streams.window"):
        checked += 1
        for name in imports(module, source):
            engine = within(name, ENGINES)
            elsewhere = within(name, ("streams",)) and not within(name, WINDOW_MAY_IMPORT)
            if engine or elsewhere:
                wrong.setdefault(module, []).append(name)
    assert checked >= 8, "the window package was not found"
    assert wrong == {}, wrong


#: Run in a fresh interpreter: imports the modules named in argv, then prints a line for each
#: engine in ``sys.modules`` (itself or any of its submodules): how many of its modules were
#: loaded, and the chain of project modules that first imported it, recorded by a meta-path hook
#: that looks at the importing frames and leaves the finding to the other finders ("?": loaded
#: before the hook, at start-up).
LOADS_NO_ENGINE = f"""
import importlib, sys

ENGINES = {ENGINES!r}
chains = {{}}


class Witness:
    def find_spec(self, name, path=None, target=None):
        if name in ENGINES and name not in chains:
            frame, chain = sys._getframe(1), []
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if module.startswith("streams") and module not in chain:
                    chain.append(module)
                frame = frame.f_back
            chains[name] = " -> ".join(reversed(chain))
        return None


sys.meta_path.insert(0, Witness())
for module in sys.argv[1:]:
    importlib.import_module(module)
for engine in ENGINES:
    loaded = [name for name in sys.modules if name.split(".")[0] == engine]
    if loaded:
        print(f"{{engine}} ({{len(loaded)}} modules) first imported by {{chains.get(engine, '?')}}")
"""


def test_importing_the_window_and_core_loads_no_engine() -> None:
    """What the window's and core's modules load, not only what they name: a project module they
    import (the settings, say) must not pull an engine in through its own imports."""
    window = [module for module, _ in modules("streams.window")]
    assert len(window) >= 8, "the window package was not found"
    ran = subprocess.run(
        [sys.executable, "-c", LOADS_NO_ENGINE, *window, *dict(modules("streams.core"))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert not ran.stdout, f"importing the window and core loaded an engine:\n{ran.stdout}"


def test_no_package_loop_between_core_window_and_engine() -> None:
    """core imports neither the window nor the engine, the window never the engine: an order
    (core, window, engine) that every import follows, so no loop."""
    edges: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for layer in LAYERS:
        for module, source in modules(layer):
            for name in imports(module, source):
                edges[layer].update(
                    other for other in LAYERS if other != layer and within(name, (other,))
                )
    assert edges["streams.core"] == set()
    assert edges["streams.window"] <= {"streams.core"}
    assert edges["streams.engine"] <= {"streams.core", "streams.window"}


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The walker finds absolute, from- and relative imports, nested ones too."""
    source = tmp_path / "guard.py"
    source.write_text(
        "import aiokafka.errors\n"
        "from faust import App\n"
        "from . import ports\n"
        "from ..engine.sink import BatchSink\n"
        "def later() -> None:\n"
        "    import mode\n"
    )
    found = imports("streams.window.guard", source)
    assert {"aiokafka.errors", "faust", "streams.window.ports", "mode"} <= found
    assert "streams.engine.sink" in found
