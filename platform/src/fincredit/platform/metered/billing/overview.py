"""What an institution sees of its metered usage: per product used, quota and remaining; spend and limit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.metered.billing.enforcement import month_to_date, spent_this_month
from fincredit.platform.metered.billing.tables import CreditLimit, Entitlement, Meter


def usage_overview(session: Session, org_id: str, at: dt.datetime) -> dict[str, Any]:
    products = []
    for meter in session.scalars(select(Meter).order_by(Meter.product)):
        ent = session.get(Entitlement, (org_id, meter.product))
        used = month_to_date(session, org_id, meter.product, at)
        quota = ent.monthly_quota if ent else None
        products.append(
            {
                "product": meter.product,
                "name": meter.name,
                "unit": meter.unit,
                "used": str(used),
                "monthly_quota": str(quota) if quota is not None else None,
                "remaining": str(max(Decimal(0), quota - used)) if quota is not None else None,
                "enabled": bool(ent and ent.enabled),
            }
        )
    limit = session.get(CreditLimit, org_id)
    spent = spent_this_month(session, org_id, at)
    return {
        "org_id": org_id,
        "period": f"{at:%Y-%m}",
        "products": products,
        "spent": f"{spent:.2f}",
        "credit_limit": f"{limit.monthly_limit:.2f}" if limit else None,
        "currency": "CNY",
    }
