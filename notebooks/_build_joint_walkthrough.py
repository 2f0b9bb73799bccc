"""Writes notebooks/joint_modelling_walkthrough.ipynb (cells kept here so diffs stay readable);
tests/test_notebook.py executes it against a live platform."""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Joint modelling with the fincredit platform — a walkthrough for bank risk teams

Your applicants' identifiers, labels and loan features never leave your premises. The platform brings
public credit records and market data of the enterprises that **consented to joint modelling with your
bank**; an ECDH private set intersection finds the common applicants (you learn only which of *your*
rows are aligned), then vertical logistic regression or SecureBoost trains under CKKS homomorphic
encryption. Finally you score new applicants with encrypted requests.

The notebook reads `FINCREDIT_URL`, `FINCREDIT_TOKEN` (your institution's access token) and
`FINCREDIT_BANK_CSV` (your applicants: `uscc`, your features, the `default` label).""",
    ),
    (
        "code",
        """import os

import httpx
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from fincredit.federation import EncryptedScorer, JointModel, LogisticParams, PlatformConnection
from fincredit.federation.scoring import deposit_bank_half
from fincredit.federation.training import SecureBoostParams, ks_statistic

URL, TOKEN = os.environ["FINCREDIT_URL"], os.environ["FINCREDIT_TOKEN"]
bank = pd.read_csv(os.environ["FINCREDIT_BANK_CSV"], dtype={"uscc": str})
BANK_FEATURES = ["loan_amount_log", "term_months", "prior_arrears"]
PLATFORM_FEATURES = ["tax_rating_latest", "tax_rating_worst_3y"]
SCOPES = ["tax_rating"]
api = httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
bank.describe().T[["count", "mean", "std"]]""",
    ),
    ("md", "## 1. Connect and create a job per algorithm (the platform checks your quota first)"),
    (
        "code",
        """def new_job(algorithm):
    r = api.post("/api/v1/joint-lab/jobs", json={
        "purpose": "SME working-capital scorecard", "algorithm": algorithm,
        "catalog_items": SCOPES, "platform_features": PLATFORM_FEATURES})
    r.raise_for_status()
    return r.json()["id"]

jobs = {algorithm: new_job(algorithm) for algorithm in ("logistic", "secureboost")}
jobs""",
    ),
    ("md", "## 2. Align (ECDH-PSI): only consenting enterprises can be in the intersection"),
    (
        "code",
        """conn = PlatformConnection(URL, TOKEN, timeout=300)
aligned = {}
for algorithm, job_id in jobs.items():
    alignment = conn.align(job_id, bank["uscc"].tolist(), scopes=SCOPES, progress=False)
    aligned[algorithm] = bank.iloc[np.asarray(alignment.rows)].reset_index(drop=True)
print(f"{len(bank)} applicants, {alignment.size} aligned with consenting platform subjects")""",
    ),
    ("md", "## 3. Train both algorithms; the SDK also trains your bank-only baseline on the same split"),
    (
        "code",
        """sdk = JointModel(conn, logistic=LogisticParams(iterations=15),
                 secureboost=SecureBoostParams(n_trees=4, max_depth=3), progress=False)
fits = {a: sdk.fit(aligned[a], id_column="uscc", label="default", features=BANK_FEATURES,
                   platform_features=PLATFORM_FEATURES, algorithm=a, job_id=jobs[a])
        for a in jobs}
pd.DataFrame({a: f.report.to_dict() for a, f in fits.items()}).loc[
    ["auc_bank_only", "auc_joint", "auc_uplift", "ks_bank_only", "ks_joint", "training_seconds"]]""",
    ),
    ("md", "## 4. Register: the platform logs its half, the metrics and the lineage in its MLflow registry"),
    (
        "code",
        """for a, fit in fits.items():
    deposit = None
    if a == "logistic":  # deposit your LR half so the platform can score with one ciphertext per row
        d, _ = deposit_bank_half(fit.bank_part)
        deposit = {"model_id": d.model_id, "features": d.features,
                   "weights": d.weights, "intercept": d.intercept}
    r = api.post(f"/api/v1/joint-lab/jobs/{jobs[a]}/complete",
                 json={"evaluation": {**fit.report.to_dict(), "params": fit.params}, "deposit": deposit})
    r.raise_for_status()
    j = r.json()
    print(a, j["state"], "mlflow run", j["mlflow_run_id"],
          "consents", j["consent_count"], j["consent_digest"][:12])""",
    ),
    ("md", "## 5. ROC and KS: bank-only vs joint on the held-out applicants"),
    (
        "code",
        """fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for a, fit in fits.items():
    y = aligned[a]["default"].to_numpy()[fit.test_rows]
    fpr, tpr, _ = roc_curve(y, fit.test_scores)
    axes[0].plot(fpr, tpr, label=f"joint {a} (AUC {roc_auc_score(y, fit.test_scores):.3f})")
a = "secureboost"
y = aligned[a]["default"].to_numpy()[fits[a].test_rows]
axes[0].plot([0, 1], [0, 1], "k:", lw=0.8)
axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
axes[0].legend(loc="lower right")
order = np.argsort(-fits[a].test_scores)
bad = np.cumsum(y[order]) / max(1, y.sum())
good = np.cumsum(1 - y[order]) / max(1, (1 - y).sum())
share = np.arange(1, y.size + 1) / y.size
axes[1].plot(share, bad, label="cumulative bad")
axes[1].plot(share, good, label="cumulative good")
axes[1].set(title=f"KS (joint {a}) = {ks_statistic(y, fits[a].test_scores):.3f}", xlabel="population share")
axes[1].legend()
fig.tight_layout()
fig""",
    ),
    (
        "md",
        "## 6. Encrypted scoring of new applicants (rows without a scoring consent are refused one by one)",
    ),
    (
        "code",
        """applicants = bank.drop(columns=["default"]).sample(40, random_state=1)
scorer = EncryptedScorer(conn, fits["secureboost"].bank_part, id_column="uscc", progress=False)
scores = scorer.score(applicants)
print("platform received a public context only:", scorer.public_context is not None)
print(scores["refused"].fillna("scored").value_counts().to_string())
scores.head()""",
    ),
]


def build() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(s) if k == "md" else nbf.v4.new_code_cell(s) for k, s in CELLS]
    return nb


if __name__ == "__main__":
    path = Path(__file__).with_name("joint_modelling_walkthrough.ipynb")
    nbf.write(build(), path)
    print(path)
