"""Capabilities join the platform by declaring themselves; the app, the CLI, the default policies, the
schema and the demo story are assembled from those declarations, not from hand-kept lists.

A capability is a package under ``fincredit.platform`` (or under one of the groups ``free`` and
``metered``) with a ``capability`` module that defines ``CAPABILITY``. Its tables live in its ``tables``
module, which :func:`load_tables` imports without pulling in routers or pages (Alembic needs only the
schema).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.orm import Session

    from fincredit.platform.core.services import Services
    from fincredit.platform.core.settings import Settings

ROOT_PACKAGE = "fincredit.platform"
# Packages that group capabilities rather than being one: the legal boundary between free public-interest
# services (G§11) and metered market services (G§14) is a folder a reader sees.
GROUPS = ("free", "metered")
# Not capabilities: the shared machinery and the programs built on the capabilities.
_NOT_CAPABILITIES = frozenset({"core", "cli", "demo", "testing"})

Policy = tuple[str, str, str]
# A background activity the app runs while it serves: started with the app's services, returns its stop.
Worker = Callable[["FastAPI", "Services"], Callable[[], None] | None]


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo story. ``position`` orders the story across capabilities."""

    position: float
    title: str
    run: Callable[[Any], str]


@dataclass(frozen=True)
class ScheduledTask:
    """Periodic work that ``fincredit worker`` runs (PostgreSQL): one run per tick across every worker, never
    two runs of one task at once. ``run`` gets the tick it runs for and returns one line for the log; it must
    be safe to repeat (a tick cut short by a dying worker is done again by the next one)."""

    name: str  # "<capability>.<what>": the task's name in the queue and in ``FINCREDIT_TASK_SCHEDULES``
    cron: str  # in UTC; five fields, or six with seconds last
    run: Callable[[Services, dt.datetime], str]
    summary: str
    # The same work once, from the command line (for cron where there is no worker: SQLite).
    command: str = ""


@dataclass(frozen=True)
class Capability:
    name: str
    summary: str
    # Route matching order: lower first. The busiest routes (the free information query) go first.
    route_order: int = 100
    routers: tuple[APIRouter, ...] = ()
    pages: tuple[APIRouter, ...] = ()
    policies: tuple[Policy, ...] = ()
    cli: tuple[tuple[str, typer.Typer], ...] = ()
    demo_steps: tuple[DemoStep, ...] = ()
    # Request body limits by path prefix, larger than the service default (uploads, frames).
    body_limits: Callable[[Settings], Mapping[str, int]] | None = None
    # Called once when an app is created: state the routes need (e.g. the query batcher), seeding.
    install: Callable[[FastAPI, Services], None] | None = None
    workers: tuple[Worker, ...] = ()
    # Periodic work run by ``fincredit worker``, apart from the service processes.
    tasks: tuple[ScheduledTask, ...] = ()
    # Defaults written in the transaction that syncs the default policies, at every start.
    seed: Callable[[Session], None] | None = None
    # Figures read from the database at each metrics scrape: (help or "queue", name, value); a "queue"
    # figure is the depth of the named outbox.
    gauges: Callable[[Session], Iterable[tuple[str, str, float]]] | None = None


def _packages() -> Iterator[str]:
    root = importlib.import_module(ROOT_PACKAGE)
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg or info.name in _NOT_CAPABILITIES:
            continue
        name = f"{ROOT_PACKAGE}.{info.name}"
        if info.name in GROUPS:
            group = importlib.import_module(name)
            for sub in pkgutil.iter_modules(group.__path__):
                if sub.ispkg:
                    yield f"{name}.{sub.name}"
        yield name


def _submodule(package: str, name: str) -> str | None:
    full = f"{package}.{name}"
    return full if importlib.util.find_spec(full) is not None else None


@cache
def capabilities() -> tuple[Capability, ...]:
    """Every capability, in route order (then by name, so the order never depends on the file system)."""
    found: list[Capability] = []
    for package in _packages():
        module = _submodule(package, "capability")
        if module is None:
            continue
        capability = importlib.import_module(module).CAPABILITY
        if not isinstance(capability, Capability):
            raise TypeError(f"{module}.CAPABILITY is not a Capability")
        found.append(capability)
    names = [c.name for c in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"capabilities declared twice: {sorted(duplicates)}")
    return tuple(sorted(found, key=lambda c: (c.route_order, c.name)))


def load_tables() -> None:
    """Import every table module, so that ``Base.metadata`` (and Alembic) see the whole schema."""
    importlib.import_module("fincredit.platform.core.db.tables")
    for package in _packages():
        module = _submodule(package, "tables")
        if module is not None:
            importlib.import_module(module)


def template_dirs() -> list[Path]:
    """Each capability's ``templates`` folder (page templates are named by role, e.g. ``bank/jobs.html``)."""
    dirs = []
    for package in _packages():
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location) / "templates"
            if folder.is_dir():
                dirs.append(folder)
    return dirs


def default_policies() -> list[Policy]:
    from fincredit.platform.core.authz import CORE_POLICIES

    policies = list(CORE_POLICIES)
    for capability in capabilities():
        policies.extend(capability.policies)
    return policies


def demo_steps() -> list[DemoStep]:
    steps = [step for capability in capabilities() for step in capability.demo_steps]
    return sorted(steps, key=lambda s: s.position)


def scheduled_tasks() -> list[ScheduledTask]:
    tasks = [task for capability in capabilities() for task in capability.tasks]
    names = [t.name for t in tasks]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"scheduled tasks declared twice: {sorted(duplicates)}")
    return sorted(tasks, key=lambda t: t.name)
