"""Structural checks of the Dockerfile (dockerfile-parse) and of .dockerignore.

hadolint (tests/k8s/test_manifests.py) covers general Dockerfile practice; these checks cover
this image's contract: multi-stage, wheels fetched in the builder from the worker's lock with
their hashes checked, the project's wheel built without resolving anything, a runtime that
installs only those wheels (the lock again with ``--require-hashes``, the project with
``--no-deps``, then ``pip check``), nothing of the development set (dev lock, test extra,
devkit/), numeric non-root user, no ``latest`` base, ``ENTRYPOINT ["streams"]``, ``CMD ["worker"]``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY$", re.IGNORECASE)

#: The worker's lock (``make lock``), the only source of the image's dependencies.
WORKER_LOCK = "requirements/worker.lock"

#: What only development installs use (the dev lock, the test extra, the development kit and
#: its Tansu broker); none of it may appear in the image definition.
DEV_ONLY = ("requirements/dev.lock", "dev.lock", "[test]", "devkit", "calfkit")

#: The build backend's lock: setuptools, for building the project's wheel without isolation.
BUILD_LOCK = "requirements/build.lock"

_FROM_WORKER_LOCK = re.compile(
    r"(^|\s)(-r|--requirement)[\s=]\S*" + re.escape(WORKER_LOCK) + r"(\s|$)"
)
_FROM_BUILD_LOCK = re.compile(
    r"(^|\s)(-r|--requirement)[\s=]\S*" + re.escape(BUILD_LOCK) + r"(\s|$)"
)


@dataclass
class Stage:
    """One build stage: its base image, name, and instructions (after FROM)."""

    image: str
    name: str | None
    instructions: list[dict[str, Any]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]


def stages(path: Path) -> list[Stage]:
    """The build stages of a Dockerfile, in order."""
    parser = DockerfileParser(path=str(path))
    result: list[Stage] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            words = item["value"].split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append(Stage(image=words[0], name=name))
        elif result and item["instruction"] != "COMMENT":
            result[-1].instructions.append(item)
    return result


def _exec_form(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _env_names(values: list[str]) -> list[str]:
    names = []
    for value in values:
        # ENV a=1 b=2 (or the legacy ENV a 1); ARG name[=default]
        for token in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", value) or value.split()[:1]:
            names.append(token)
    return names


def _commands(run: str) -> list[str]:
    """The shell commands of a RUN value (split at ``&&``, ``||`` and ``;``)."""
    return [command.strip() for command in re.split(r"&&|\|\||;", run) if command.strip()]


def _pip(stage: Stage, verbs: tuple[str, ...]) -> list[str]:
    """The stage's ``pip VERB ...`` commands, for any of ``verbs``."""
    pattern = re.compile(r"\bpip\s+(" + "|".join(verbs) + r")\b")
    return [c for run in stage.values("RUN") for c in _commands(run) if pattern.search(c)]


def _from_lock(command: str) -> bool:
    """Installs or fetches exactly the worker's lock, every file's hash checked."""
    return "--require-hashes" in command and bool(_FROM_WORKER_LOCK.search(command))


def _from_build_lock(command: str) -> bool:
    """Installs the build backend from its lock, every file's hash checked."""
    return "--require-hashes" in command and bool(_FROM_BUILD_LOCK.search(command))


def _builds_the_project(command: str) -> bool:
    return bool(re.search(r"\bpip\s+(wheel|install)\b.*\s\.(\s|$)", command))


def lock_problems(all_stages: list[Stage]) -> list[str]:
    """Dependencies come only from the worker's lock, hashes checked, and nothing from the
    development set is used."""
    builder, final = all_stages[:-1], all_stages[-1]
    problems = []
    fetches = [c for stage in builder for c in _pip(stage, ("wheel", "download"))]
    if not any(_from_lock(c) for c in fetches):
        problems.append(
            f"no builder stage fetches the dependencies from {WORKER_LOCK} with --require-hashes"
        )
    installs = _pip(final, ("install",))
    if not any(_from_lock(c) for c in installs):
        problems.append(
            f"the final stage must install the dependencies from {WORKER_LOCK} with "
            "--require-hashes"
        )
    for command in fetches + installs:
        if not _from_lock(command) and "--no-deps" not in command:
            problems.append(f"`{command}` resolves dependencies outside the lock (--no-deps)")
    builds = [c for stage in builder for c in _pip(stage, ("wheel",)) if _builds_the_project(c)]
    for command in builds:
        if "--no-build-isolation" not in command:
            problems.append(
                f"`{command}` fetches its build backend without hashes (--no-build-isolation)"
            )
    backends = [c for stage in builder for c in _pip(stage, ("install",))]
    if builds and not any(_from_build_lock(c) for c in backends):
        problems.append(
            f"no builder stage installs the build backend from {BUILD_LOCK} with --require-hashes"
        )
    for command in backends:
        if not _from_build_lock(command):
            problems.append(f"`{command}` installs in the builder outside {BUILD_LOCK}")
    if not any(re.search(r"\bpip\s+check\b", c) for c in _pip(final, ("check",))):
        problems.append("the final stage must run `pip check` after installing")
    for stage in all_stages:
        for item in stage.instructions:
            for marker in DEV_ONLY:
                if marker in item["value"]:
                    problems.append(
                        f"{item['instruction']} uses {marker}: development only, never the image"
                    )
    return problems


def dockerfile_problems(path: Path) -> list[str]:
    """What breaks the image contract; empty when the Dockerfile is fine."""
    all_stages = stages(path)
    problems = []
    if len(all_stages) < 2:
        return [f"expected a multi-stage build, found {len(all_stages)} stage(s)"]
    names = {s.name for s in all_stages if s.name}
    for stage in all_stages:
        image = stage.image
        if image in names:  # FROM an earlier stage
            continue
        repo_part = image.split("@", 1)[0].rsplit("/", 1)[-1]
        if "@sha256:" not in image and ":" not in repo_part:
            problems.append(f"base image {image} has no tag (implicitly latest)")
        elif image.split("@", 1)[0].endswith(":latest"):
            problems.append(f"base image {image} uses the latest tag")
        if not re.match(r"^(docker\.io/(library/)?)?python:3\.11[.\d]*-slim", image):
            problems.append(f"base image {image} is not a slim Python 3.11 image")

    builder, final = all_stages[:-1], all_stages[-1]
    if not any("pip wheel" in run for stage in builder for run in stage.values("RUN")):
        problems.append("no builder stage runs `pip wheel`")
    installs = [run for run in final.values("RUN") if "pip install" in run]
    if not installs or not all("--no-index" in run for run in installs):
        problems.append(
            "the final stage must install only the built wheels (pip install --no-index)"
        )
    if not any(
        f"from={s.name}" in r for s in builder if s.name for r in final.values("RUN")
    ) and not any("--from=" in c for c in final.values("COPY")):
        problems.append("the final stage takes nothing from the builder")
    problems += lock_problems(all_stages)

    users = final.values("USER")
    if not users:
        problems.append("the final stage has no USER (runs as root)")
    else:
        uid = users[-1].split(":", 1)[0].strip()
        if not uid.isdigit():
            problems.append(f"USER {users[-1]} must be numeric (runAsNonRoot checks the UID)")
        elif int(uid) == 0:
            problems.append("USER is root")

    entrypoint = final.values("ENTRYPOINT")
    if not entrypoint or _exec_form(entrypoint[-1]) != ["streams"]:
        problems.append('ENTRYPOINT must be ["streams"]')
    cmd = final.values("CMD")
    if not cmd or _exec_form(cmd[-1]) != ["worker"]:
        problems.append('CMD must be ["worker"]')
    exposed = {p.split("/")[0] for v in final.values("EXPOSE") for p in v.split()}
    if "6066" not in exposed:
        problems.append("EXPOSE 6066 (the web port) is missing")

    env = DockerfileParser(path=str(path)).envs
    if env.get("STREAMS_DATA_DIR") != "/var/lib/streams":
        problems.append("ENV STREAMS_DATA_DIR=/var/lib/streams is missing")
    for stage in all_stages:
        for name in _env_names(stage.values("ENV") + stage.values("ARG")):
            if SECRET_NAME.search(name):
                problems.append(f"{name} looks like a secret baked into the image")
    return problems


def dockerignore_problems(dockerignore: Path, dockerfile: Path) -> list[str]:
    """.dockerignore is an allowlist that lets in exactly what the build COPYs."""
    lines = [
        line.strip()
        for line in dockerignore.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    problems = []
    if not lines or lines[0] != "*":
        problems.append(".dockerignore must start with `*` (allowlist)")
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for stage in stages(dockerfile):
        for copy in stage.values("COPY") + stage.values("ADD"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if any(w.startswith("--from") for w in copy.split()):
                continue
            for source in words[:-1]:
                path = source.rstrip("/")
                if not any(path == entry or path.startswith(entry + "/") for entry in allowed):
                    problems.append(f"COPY source {source} is not let in by .dockerignore")
    for entry in allowed:
        if entry.startswith(("k8s", ".venv", ".git", "tests")) or entry in ("*", "."):
            problems.append(f".dockerignore lets in {entry}")
        elif entry in ("requirements", "requirements/*") or entry.endswith(DEV_ONLY):
            problems.append(f".dockerignore lets in {entry} (development only)")
    return problems
