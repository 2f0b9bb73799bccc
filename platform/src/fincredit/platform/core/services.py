"""The long-lived objects one running platform holds: settings, keys, database, authorizer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fincredit.platform.core.authz import Authorizer, sync_default_policies
from fincredit.platform.core.db import make_engine, make_sessionmaker, transaction
from fincredit.platform.core.keyring import Keyring, load_keyring
from fincredit.platform.core.registry import capabilities
from fincredit.platform.core.settings import Settings


@dataclass
class Services:
    settings: Settings
    keyring: Keyring
    engine: Engine
    sessions: sessionmaker[Session]
    authz: Authorizer

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A write transaction: everything inside commits together or not at all."""
        with transaction(self.sessions) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if migrate:
        from fincredit.platform.core.migrate import upgrade

        upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        sync_default_policies(session)
        for capability in capabilities():
            if capability.seed is not None:
                capability.seed(session)
    return Services(
        settings=settings,
        keyring=load_keyring(settings),
        engine=engine,
        sessions=sessions,
        authz=Authorizer(engine),
    )
