"""Provider submissions (R§7), cleaning, matching, loading and feedback (R§8)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fincredit.platform.core.registry import Capability, DemoStep, ScheduledTask
from fincredit.platform.core.settings import Settings
from fincredit.platform.ingestion import pages, router, scan_once, upload_pages
from fincredit.platform.ingestion.cli import ingest_app
from fincredit.platform.ingestion.demo import INGEST_STEPS

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services

# A file is taken once its size is the same after this pause (a copy still in progress is left alone).
DROP_SETTLE_SECONDS = 2.0


def _body_limits(settings: Settings) -> Mapping[str, int]:
    return {
        "/api/v1/submissions": settings.max_upload_bytes,
        "/web/provider/upload": settings.max_upload_bytes,
    }


def _drop_folders(services: Services, tick: dt.datetime) -> str:
    root = services.settings.drop_folders
    if root is None:
        return "no drop folders (FINCREDIT_DROP_FOLDERS is not set)"
    # Each subfolder is one provider's, named by its organisation id: the provider is the folder's.
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    sizes: dict[str, dict[str, int]] = {f.name: {} for f in folders}
    for folder in folders:
        scan_once(services, folder.name, folder, sizes[folder.name])
    if not any(sizes.values()):
        return f"{len(folders)} drop folder(s), no files"
    time.sleep(DROP_SETTLE_SECONDS)
    results = [r for f in folders for r in scan_once(services, f.name, f, sizes[f.name])]
    taken = sum(r.outcome != "rejected" for r in results)
    return f"{len(folders)} drop folder(s): {taken} file(s) taken, {len(results) - taken} rejected"


CAPABILITY = Capability(
    name="ingestion",
    summary="Monthly submissions and nil reports, cleaning, matching, loading, feedback (R§7, R§8)",
    route_order=18,
    routers=(router.router,),
    pages=(pages.router, upload_pages.router),
    policies=(
        ("provider", "submissions", "write"),
        ("provider", "submissions", "read"),
        ("regulator", "submissions", "read"),
        ("regulator", "submissions", "read_all"),
        ("credit_authority", "submissions", "read"),
        ("credit_authority", "submissions", "read_all"),
    ),
    cli=(("ingest", ingest_app),),
    demo_steps=tuple(DemoStep(20 + i, title, run) for i, (title, run) in enumerate(INGEST_STEPS)),
    body_limits=_body_limits,
    tasks=(
        ScheduledTask(
            "ingestion.drop_folders",
            "* * * * *",
            _drop_folders,
            "Take the providers' dropped files",
            "fincredit ingest watch FOLDER --provider ORG --once",
        ),
    ),
)
