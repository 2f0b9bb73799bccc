"""Demo steps of the catalog and provider submissions (appended to ``demo.STEPS``): the operator hands
the tax-credit item to the demo's tax bureau (a new catalog version); the bureau uploads a month of
ratings from the synthetic city with some bad rows; the feedback report names each one; re-sending the
file changes nothing; a nil report and the late / missing list follow."""

from __future__ import annotations

import collections
import io
from typing import TYPE_CHECKING

import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fincredit.models.synthetic import generate_city
from fincredit.platform.catalog import default_catalog
from fincredit.platform.ingestion import register_subjects

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext

_MONTH = "2025-05"


def step_catalog(ctx: DemoContext) -> str:
    """The operator reads the default catalog and assigns the tax-credit item to the tax bureau's
    organisation: every catalog change is a new version, older submissions keep theirs."""
    catalog = ctx.http.get("/api/v1/catalog", headers=ctx.as_("bank"))
    catalog.raise_for_status()
    items = catalog.json()["items"]
    negative = sum(1 for i in items if i["negative"])
    r = ctx.http.patch(
        "/api/v1/catalog/items/tax_rating",
        json={"provider_org_id": ctx.actors["tax"].org_id, "note": "tax ratings come from nb-tax"},
        headers=ctx.as_("operator"),
    )
    r.raise_for_status()
    item = r.json()
    return (
        f"{len(items)} catalog items ({negative} negative, 5-year validity by default); tax_rating now "
        f"provided by {item['provider_org_id']} in catalog version {item['catalog_version']}"
    )


def step_submission(ctx: DemoContext) -> str:
    """The tax bureau uploads May 2025's tax credit ratings as CSV; the platform validates, cleans,
    matches every row to an enterprise by blind index and loads the rest; bad rows are fed back."""
    city = generate_city(1500, seed=20250531, catalog=default_catalog(), bad_row_share=0.03)
    with ctx.services.tx() as session:  # the registration authority's register, loaded in bulk
        e = city.enterprises
        register_subjects(
            session, ctx.services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist()
        )
    sub = city.submissions["tax_rating"]
    table = sub.filter(pc.less_equal(sub.column("report_month"), _MONTH))
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    ctx.data["tax_csv"] = buf.getvalue()
    r = ctx.http.post(
        f"/api/v1/submissions?item=tax_rating&month={_MONTH}&filename=tax_rating_{_MONTH}.csv",
        content=ctx.data["tax_csv"],
        headers={**ctx.as_("tax"), "Content-Type": "text/csv"},
    )
    r.raise_for_status()
    s = r.json()
    ctx.data["tax_submission"] = s["id"]
    return (
        f"submission {s['id']}: {s['rows_total']} rows, {s['rows_new']} loaded, "
        f"{s['rows_rejected']} rejected; due {s['due_date']} ({'late' if s['late'] else 'on time'}); "
        f"processing deadline {s['processing_due']}, provider to verify feedback by {s['verification_due']}"
    )


def step_feedback(ctx: DemoContext) -> str:
    """The bureau downloads the feedback report: row, field and reason for every rejected row."""
    sid = ctx.data["tax_submission"]
    rows = ctx.http.get(f"/api/v1/submissions/{sid}/feedback", headers=ctx.as_("tax")).json()
    reasons = collections.Counter(r["reason"] for r in rows)
    example = rows[0] if rows else None
    csv_text = ctx.http.get(f"/api/v1/submissions/{sid}/feedback?format=csv", headers=ctx.as_("tax")).text
    shown = f"; e.g. row {example['row']} {example['field']}: {example['detail']}" if example else ""
    return (
        f"{len(rows)} problems by reason {dict(reasons)}; CSV {len(csv_text.splitlines()) - 1} lines{shown}"
    )


def step_resubmission(ctx: DemoContext) -> str:
    """Re-sending the same file changes nothing; the bureau files a nil report for June and the
    credit authority sees which months are late or missing."""
    r = ctx.http.post(
        f"/api/v1/submissions?item=tax_rating&month={_MONTH}",
        content=ctx.data["tax_csv"],
        headers={**ctx.as_("tax"), "Content-Type": "text/csv"},
    )
    r.raise_for_status()
    nil = ctx.http.post(
        "/api/v1/submissions/nil",
        json={"item_code": "tax_rating", "month": "2025-06"},
        headers=ctx.as_("tax"),
    )
    nil.raise_for_status()
    ctx.http.post(
        f"/api/v1/submissions/{ctx.data['tax_submission']}/verification",
        json={"note": "checked; corrected rows follow next month"},
        headers=ctx.as_("tax"),
    ).raise_for_status()
    status = ctx.http.get(
        f"/api/v1/submissions/compliance?from=2025-04&to=2025-06&provider={ctx.actors['tax'].org_id}",
        headers=ctx.as_("authority"),
    ).json()
    summary = ", ".join(f"{s['month']} {s['status']}" for s in status)
    return f"re-upload → HTTP {r.status_code}, duplicate={r.json()['duplicate']}; tax_rating: {summary}"


INGEST_STEPS = [
    ("The public credit catalog, versioned", step_catalog),
    ("A provider's monthly submission", step_submission),
    ("The feedback report", step_feedback),
    ("Idempotent re-submission, nil report, late and missing", step_resubmission),
]
