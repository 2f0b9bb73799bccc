"""The bank's joint-modelling jobs (G§13): state, timings and lineage of each job, and the evaluation
the bank's SDK reported — AUC and KS, joint against bank-only, with the ROC curve and the KS chart drawn
as inline SVG from the stored curve points (no plotting library on the request path). And the features
the platform offers (the operator's feature views, #21), as a bank's data scientist reads them: each
with its title, the identifier its SDK passes, its sources by name and its rule in words."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.models.catalog_spec import MARKET_ENVELOPE
from fincredit.models.feature_views import FeatureView, FeatureViews
from fincredit.platform.catalog import default_catalog
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.web.deps import PREFIX, PageForbidden, lang_of, page, render
from fincredit.platform.core.web.formats import NameBook
from fincredit.platform.core.web.i18n import CATALOGUES, translator
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market.tables import MarketDataset
from fincredit.platform.metered.joint_lab import JointJobForbidden, JointJobNotFound, owned_job
from fincredit.platform.metered.joint_lab._inputs import offered_views
from fincredit.platform.metered.joint_lab.router import federation_of
from fincredit.platform.metered.joint_lab.tables import JointJob

# The jobs under /bank/jobs, the offered features under /bank/joint-lab/features.
router = APIRouter(prefix=f"{PREFIX}/bank", include_in_schema=False)
Bank = Annotated[Principal, Depends(page("joint_lab", "read"))]

# Chart geometry (SVG user units): a square plot with room for the axis labels on the left and below.
LEFT, TOP, SIZE = 44, 10, 260


def _xy(x: float, y: float) -> str:
    return f"{LEFT + x * SIZE:.1f},{TOP + (1 - y) * SIZE:.1f}"


def _polyline(xs: list[float], ys: list[float]) -> str:
    return " ".join(_xy(x, y) for x, y in zip(xs, ys, strict=False))


def _curve(evaluation: dict[str, Any], model: str) -> dict[str, Any] | None:
    curves = evaluation.get("curves") or {}
    found = curves.get(model)
    return found if isinstance(found, dict) else None


def _roc_chart(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    """Polylines of the joint and bank-only ROC curves, in the SVG's coordinates."""
    lines = {}
    for model in ("joint", "bank_only"):
        curve = _curve(evaluation, model)
        if curve and curve.get("roc"):
            lines[model] = _polyline(curve["roc"]["fpr"], curve["roc"]["tpr"])
    if not lines:
        return None
    return {"lines": lines, "diagonal": _polyline([0, 1], [0, 1])}


def _ks_chart(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    """The joint model's cumulative bad and good shares over the score-ordered population, and the
    widest gap between them (the KS statistic) as a vertical segment."""
    curve = _curve(evaluation, "joint")
    if not curve or not curve.get("ks"):
        return None
    ks = curve["ks"]
    share, bad, good = ks["population_share"], ks["cum_bad"], ks["cum_good"]
    gaps = [abs(b - g) for b, g in zip(bad, good, strict=False)]
    at = max(range(len(gaps)), key=gaps.__getitem__)
    return {
        "bad": _polyline(share, bad),
        "good": _polyline(share, good),
        "gap": {
            "from": _xy(share[at], good[at]),
            "to": _xy(share[at], bad[at]),
            "x": LEFT + share[at] * SIZE,
            "y": TOP + (1 - (bad[at] + good[at]) / 2) * SIZE,
            "value": gaps[at],
            "share": share[at],
        },
    }


def _duration(job: JointJob) -> float | None:
    end = job.completed_at or (job.updated_at if job.state == "failed" else None)
    return (end - job.created_at).total_seconds() if end else None


def job_view(job: JointJob) -> dict[str, Any]:
    ev = job.evaluation or {}
    return {
        "id": job.id,
        "purpose": job.purpose,
        "algorithm": job.algorithm,
        "state": job.state,
        "status": job.status,
        "catalog_items": job.catalog_items,
        "market_datasets": job.market_datasets,
        "platform_features": job.platform_features,
        "platform_size": job.platform_size,
        "aligned": job.aligned,
        "consent_count": job.consent_count,
        "consent_digest": job.consent_digest,
        "mlflow_run_id": job.mlflow_run_id,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "completed_at": job.completed_at,
        "duration": _duration(job),
        "evaluation": ev,
        "has_metrics": isinstance(ev.get("auc_joint"), int | float),
        "monitoring": _monitoring(ev),
    }


def _psi_band(psi: float | None) -> str:
    """The usual reading of a PSI: under 0.1 stable, up to 0.25 worth watching, above that shifted."""
    if psi is None:
        return "none"
    return "stable" if psi < 0.1 else ("watch" if psi <= 0.25 else "shifted")


def _monitoring(ev: dict[str, Any]) -> dict[str, Any] | None:
    """The months the bank reported for the scored population, each with its PSI band."""
    found = ev.get("monitoring")
    if not isinstance(found, dict) or not found.get("months"):
        return None
    months = [{**m, "band": _psi_band(m.get("psi"))} for m in found["months"]]
    return {"months": months, "training_default_rate": found.get("training_default_rate")}


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, services: ServicesDep, principal: Bank) -> HTMLResponse:
    federation_of(request).sweep()  # as the API does: an abandoned job shows as failed, with the reason
    with services.read() as session:
        rows = session.scalars(
            select(JointJob)
            .where(JointJob.org_id == principal.org_id)
            .order_by(JointJob.created_at.desc())
            .limit(200)
        )
        jobs = [job_view(j) for j in rows]
    return render(request, "bank/jobs.html", jobs=jobs)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, services: ServicesDep, principal: Bank) -> HTMLResponse:
    federation_of(request).sweep()
    with services.read() as session:
        try:
            job = job_view(owned_job(session, job_id, principal.org_id))
        except JointJobForbidden as exc:  # another bank's job: refused, its details never shown
            raise PageForbidden(exc.detail) from exc
        except JointJobNotFound:
            t = translator(lang_of(request))
            return render(request, "message.html", status_code=404, title=t("jobs.not_found"), text=job_id)
    ev = job["evaluation"]
    return render(request, "bank/job.html", job=job, roc=_roc_chart(ev), ks=_ks_chart(ev))


class _Names:
    """Sources and fields by their names in ``lang``: a catalog item's from the catalog in force, a market
    dataset's as the platform registered it (else as the default catalog defines it)."""

    def __init__(self, session: Session, lang: str) -> None:
        self.lang = lang
        self.book = NameBook(session, lang)
        self.datasets = {d.code: d for d in default_catalog().market_datasets}
        self.stored = dict(session.execute(select(MarketDataset.code, MarketDataset.name)).tuples().all())

    def source(self, code: str) -> str:
        if code in self.stored or code in self.datasets:
            return self.stored.get(code) or self.datasets[code].name
        return self.book.item(code)

    def field(self, source: str, name: str) -> str:
        spec = self.datasets.get(source)
        if spec is None:
            return self.book.field(source, name)
        english = CATALOGUES[self.lang].text(f"field.{name}") if self.lang != "zh" else None
        if english:
            return english
        for f in (*MARKET_ENVELOPE, *spec.fields):
            if f.name == name:
                return f.title if self.lang == "zh" else name.replace("_", " ").strip().capitalize()
        return name.replace("_", " ").strip().capitalize()


def feature_row(view: FeatureView, names: _Names) -> dict[str, Any]:
    """One offered feature as the page writes it: names instead of codes, the rule's parts in words."""
    first = view.sources[0] if view.sources else ""

    def field(name: str | None) -> str | None:
        return names.field(first, name) if name else None

    missing = view.missing
    return {
        "name": view.name,
        "title": view.title or view.description,
        "description": view.description,
        "sources": [names.source(s) for s in view.sources],
        "aggregation": view.aggregation,
        "declarative": view.declarative,
        "field": field(view.field),
        "date_field": field(view.date_field),
        "end_field": field(view.end_field),
        "window_days": view.window_days,
        "where": [(field(k), "、".join(v)) for k, v in view.where.items()],
        "map": ", ".join(f"{k}={v:g}" for k, v in view.map.items()),
        "transform": view.transform,
        "missing": missing if missing in ("zero", "nan") else "value",
        "missing_value": missing if not isinstance(missing, str) else None,
        "since_version": view.since_version,
    }


def features_view(session: Session, views: FeatureViews, lang: str) -> dict[str, Any]:
    names = _Names(session, lang)
    return {
        "version": views.version,
        "digest": views.digest,
        "features": [feature_row(v, names) for v in views.features],
    }


@router.get("/joint-lab/features", response_class=HTMLResponse)
def features_page(request: Request, services: ServicesDep, principal: Bank) -> HTMLResponse:
    """What a job may offer: every feature of the platform's feature views (the same definition the API
    serves at GET /api/v1/joint-lab/features)."""
    views = offered_views(services.settings.var_dir)
    with services.read() as session:
        found = features_view(session, views, lang_of(request))
    return render(request, "bank/features.html", **found)
