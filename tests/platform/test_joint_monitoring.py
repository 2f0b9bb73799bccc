"""Monitoring a joint model in use: the bank reports the monthly stability of its scored applicants
(aggregates its SDK computed: the platform never sees a score), and its job page shows each month's
PSI with its reading, the score quartiles and the default rates beside the training rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincredit.federation.monitoring import monthly_stability
from fincredit.platform.testing.plugin import auth, new_institution

from .test_web_bank_regulator import _login, seed_job


def _months() -> list[dict[str, object]]:
    rng = np.random.default_rng(5)
    reference = rng.normal(size=2000)
    scored = pd.DataFrame(
        {
            "month": np.repeat(["2026-10", "2026-11", "2026-12"], 400),
            "score": np.concatenate(
                [rng.normal(size=400), rng.normal(0.2, size=400), rng.normal(1.2, size=400)]
            ),
            "default": np.concatenate([rng.random(400) < 0.12, np.full(800, np.nan)]),
        }
    )
    report = monthly_stability(reference, scored, outcome="default")
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in report.to_dict(orient="records")
    ]


def test_the_bank_reports_monthly_stability_and_its_job_page_shows_it(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    done = seed_job(services, bank)
    headers = auth(client, bank)
    months = [
        {k: v for k, v in m.items() if k != "training_default_rate" and v is not None} for m in _months()
    ]
    r = client.post(
        f"/api/v1/joint-lab/jobs/{done}/monitoring",
        headers=headers,
        json={"months": months, "training_default_rate": 0.11},
    )
    assert r.status_code == 200, r.text
    stored = r.json()["evaluation"]["monitoring"]
    assert [m["month"] for m in stored["months"]] == ["2026-10", "2026-11", "2026-12"]
    # A month sent again replaces the earlier figures; the others stay.
    again = client.post(
        f"/api/v1/joint-lab/jobs/{done}/monitoring",
        headers=headers,
        json={"months": [{**months[0], "scored": 401}]},
    )
    assert [m["scored"] for m in again.json()["evaluation"]["monitoring"]["months"]] == [401, 400, 400]
    assert again.json()["evaluation"]["monitoring"]["training_default_rate"] == 0.11

    _login(client, services, bank)
    page = client.get(f"/web/bank/jobs/{done}", params={"lang": "en"}).text
    assert 'id="monitoring"' in page and 'id="month-2026-12"' in page
    assert "stable" in page and "shifted" in page  # Oct reads stable, Dec (scores moved up) shifted
    assert "Default rate in training: 11.0%" in page

    bad = client.post(
        f"/api/v1/joint-lab/jobs/{done}/monitoring",
        headers=headers,
        json={"months": [{"month": "2026-13", "scored": 1}]},
    )
    assert bad.status_code == 422
    running = seed_job(services, bank, state="training", purpose="贷后预警模型")
    early = client.post(
        f"/api/v1/joint-lab/jobs/{running}/monitoring", headers=headers, json={"months": months}
    )
    assert early.status_code == 409
    other = auth(client, new_institution(services, "bank"))
    assert client.post(
        f"/api/v1/joint-lab/jobs/{done}/monitoring", headers=other, json={"months": months}
    ).status_code in (403, 404)
