"""Demo steps of the two subject databases: registration, identifier checks, masking."""

from __future__ import annotations

from fincredit.consent.identifiers import NINGBO_REGIONS, generate_resident_id, generate_uscc
from fincredit.platform.demo.context import DemoContext


def step_subjects(ctx: DemoContext) -> str:
    """The provider registers enterprises (USCC) and persons (resident ID) of the synthetic city."""
    regions = list(NINGBO_REGIONS)
    created = []
    for i in range(20):
        code = generate_uscc(ctx.rng, ctx.rng.choice(regions))
        r = ctx.http.post(
            "/api/v1/subjects",
            headers=ctx.as_("tax"),
            json={"identifier": code, "name": f"宁波市示范{i:02d}科技有限公司", "industry": "I"},
        )
        r.raise_for_status()
        created.append(code)
    person = generate_resident_id(ctx.rng, regions[0])
    ctx.http.post(
        "/api/v1/subjects", headers=ctx.as_("tax"), json={"identifier": person, "name": "张三"}
    ).raise_for_status()
    ctx.data["enterprises"], ctx.data["person"] = created, person
    return f"{len(created)} enterprises and 1 person registered (identifiers stored AES-GCM encrypted)"


def step_bad_identifier(ctx: DemoContext) -> str:
    """A mistyped code is refused with a problem+json that names the wrong character."""
    good = ctx.data["enterprises"][0]
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = ctx.http.get(f"/api/v1/subjects/{bad}", headers=ctx.as_("bank"))
    return f"{r.status_code} {r.headers['content-type']}: {r.json()['detail']}"


def step_masking(ctx: DemoContext) -> str:
    """The bank sees a masked identifier; the credit authority is entitled to the full one."""
    code = ctx.data["enterprises"][0]
    seen_by_bank = ctx.http.get(f"/api/v1/subjects/{code}", headers=ctx.as_("bank")).json()["identifier"]
    seen_by_authority = ctx.http.get(f"/api/v1/subjects/{code}", headers=ctx.as_("authority")).json()[
        "identifier"
    ]
    return f"bank sees {seen_by_bank}; credit authority sees {seen_by_authority}"
