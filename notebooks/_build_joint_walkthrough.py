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
features computed from public credit records and market data of the enterprises that **consented to
joint modelling with your bank**; a private set intersection finds the common applicants (you learn
only which of *your* rows are aligned), then vertical logistic regression or SecureBoost trains under
homomorphic encryption. A second person of your bank signs the model off, and you score new applicants
with encrypted requests and watch the scored population month by month.

The notebook reads `FINCREDIT_URL`, `FINCREDIT_TOKEN` (your access token), `FINCREDIT_RISK_TOKEN` (the
model-risk officer's token), `FINCREDIT_BANK_CSV` (your loans: `uscc`, your features, the `default`
label) and `FINCREDIT_APPLICANTS_CSV` (new applicants: `uscc`, your features, `month`).""",
    ),
    (
        "code",
        """import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from fincredit.federation import EncryptedScorer, JointLab, LogisticParams
from fincredit.federation.monitoring import monthly_stability
from fincredit.federation.scorecard import (
    Scorecard, bank_share, information_values, select_features, woe_table)
from fincredit.federation.training import SecureBoostParams, ks_statistic

URL, TOKEN = os.environ["FINCREDIT_URL"], os.environ["FINCREDIT_TOKEN"]
bank = pd.read_csv(os.environ["FINCREDIT_BANK_CSV"], dtype={"uscc": str})
applicants = pd.read_csv(os.environ["FINCREDIT_APPLICANTS_CSV"], dtype={"uscc": str})
BANK_FEATURES = ["loan_amount_log", "term_months", "prior_arrears"]
lab = JointLab(URL, TOKEN, timeout=300)
print(f"{len(bank)} loans, default rate {bank['default'].mean():.1%}; {len(applicants)} new applicants")""",
    ),
    ("md", "## 1. Your bank-only baseline, and the evidence in each of your features (WOE / IV)"),
    (
        "code",
        """ivs = information_values(bank, BANK_FEATURES, "default", bins=5)
selected = select_features(ivs, bank, min_iv=0.02, max_correlation=0.8) or BANK_FEATURES
train, test = train_test_split(bank, test_size=0.25, random_state=0, stratify=bank["default"])
baseline = LogisticRegression(max_iter=1000).fit(train[selected], train["default"])
auc_baseline = roc_auc_score(test["default"], baseline.decision_function(test[selected]))
print("IV:", ivs.round(3).to_dict(), "| selected:", selected, f"| bank-only AUC {auc_baseline:.3f}")
table = woe_table(bank, selected[0], "default", bins=5)
table[["lower", "upper", "rows", "bad_rate", "woe", "iv"]].round(3)""",
    ),
    (
        "md",
        """## 2. The platform's feature views: what it offers, computed from which sources

Every offered feature is defined as data (source item or dataset, field, aggregation, window,
missing-value rule) in the platform's versioned feature views. A job may use the features whose sources
your applicants' consent covers; here, the tax-rating item.""",
    ),
    (
        "code",
        """offer = pd.DataFrame([{"name": f.name, "sources": ", ".join(f.sources),
                       "rule": f.raw["aggregation"], "description": f.description} for f in lab.features()])
covered = offer[offer["sources"] == "tax_rating"]
PLATFORM_FEATURES = covered["name"].tolist()
print(f"{len(offer)} features offered; {len(PLATFORM_FEATURES)} covered by the tax-rating consent")
covered""",
    ),
    (
        "md",
        """## 3. Train a joint logistic regression and a joint GBDT (SecureBoost)

`lab.train` creates the job on the platform (quota first), aligns by PSI, trains under encryption,
evaluates on a held-out split you draw, and completes the job (the platform registers its half).
The fit returns the alignment in **your** identifiers, and the held-out scores keyed by them.""",
    ),
    (
        "code",
        """trained = {
    "logistic": lab.train(bank, id_column="uscc", label="default", features=selected,
                          platform_features=PLATFORM_FEATURES, algorithm="logistic",
                          purpose="SME working-capital scorecard",
                          logistic=LogisticParams(iterations=15), progress=False),
    "secureboost": lab.train(bank, id_column="uscc", label="default", features=selected,
                             platform_features=PLATFORM_FEATURES, algorithm="secureboost",
                             purpose="SME working-capital trees",
                             secureboost=SecureBoostParams(n_trees=4, max_depth=3), progress=False),
}
fits = {a: t.fit for a, t in trained.items()}
lr = fits["logistic"]
print(f"{len(bank)} applicants, {len(lr.aligned_ids)} aligned with consenting platform subjects;",
      "jobs:", {a: t.job.state for a, t in trained.items()})
lr.alignment.head()""",
    ),
    (
        "code",
        """pd.DataFrame({a: f.report.to_dict() for a, f in fits.items()}).loc[
    ["rows_train", "rows_test", "auc_bank_only", "auc_joint", "auc_uplift", "ks_bank_only", "ks_joint"]]""",
    ),
    (
        "md",
        "## 4. Bank-only vs joint on the held-out applicants: ROC, KS and calibration",
    ),
    (
        "code",
        """def calibration(y, p, bins=5):
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, bins - 1)
    return [p[idx == b].mean() for b in range(bins)], [y[idx == b].mean() for b in range(bins)]

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plotted = []
for a, fit in fits.items():
    y = fit.labels.to_numpy()
    for which, scores, style in (("bank-only", fit.bank_only_scores, "--"), ("joint", fit.scores, "-")):
        s = scores.to_numpy()
        fpr, tpr, _ = roc_curve(y, s)
        label = f"{which} {a} (AUC {roc_auc_score(y, s):.3f}, KS {ks_statistic(y, s):.3f})"
        axes[0].plot(fpr, tpr, style, label=label)
        px, py = calibration(y, 1 / (1 + np.exp(-s)))
        axes[2].plot(px, py, style + "o", label=f"{which} {a}")
        plotted.append(label)
axes[0].plot([0, 1], [0, 1], "k:", lw=0.8)
axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC: bank-only vs joint")
axes[0].legend(loc="lower right", fontsize=7)
y, s = lr.labels.to_numpy(), lr.scores.to_numpy()
order = np.argsort(-s)
share = np.arange(1, y.size + 1) / y.size
axes[1].plot(share, np.cumsum(y[order]) / max(1, y.sum()), label="cumulative bad")
axes[1].plot(share, np.cumsum(1 - y[order]) / max(1, (1 - y).sum()), label="cumulative good")
axes[1].set(title=f"KS (joint logistic) = {ks_statistic(y, s):.3f}",
            xlabel="population share, riskiest first")
axes[1].legend()
axes[2].plot([0, 1], [0, 1], "k:", lw=0.8)
axes[2].set(xlabel="predicted default probability", ylabel="observed default rate", title="calibration")
axes[2].legend(fontsize=7)
fig.tight_layout()
print("curves:", *plotted, sep="\\n  ")
fig""",
    ),
    (
        "md",
        """## 5. The joint logistic model as a points scorecard

Base 600 points at odds 50:1, 20 points to double the odds. Your features are points per bin; the
platform's part is one more line, returned per applicant by encrypted scoring under consent.""",
    ),
    (
        "code",
        """card = Scorecard.from_logistic(lr.bank_part, bank, base_points=600, base_odds=50, pdo=20, bins=5)
print(f"base points {card.base_points}, factor {card.factor:.2f} points per unit of log-odds")
card.table.round(2)""",
    ),
    (
        "md",
        """## 6. Registration and model-risk approval

Each completed job is a version of your registered model in the platform's MLflow registry, pending
approval. Scoring is refused until a **second person** of your bank signs it off; the trainer cannot.""",
    ),
    (
        "code",
        """from fincredit.federation import PlatformApiError

job_id = trained["logistic"].job.id
try:
    lab.approve(job_id, "my own model")
except PlatformApiError as exc:
    print("refused:", exc.slug)
officer = JointLab(URL, os.environ["FINCREDIT_RISK_TOKEN"])
for a, t in trained.items():
    officer.approve(t.job.id, "validation report MRM-2026-12 reviewed")
version = officer.set_alias(job_id, "champion")
print(version["name"], "v", version["version"], version["status"], version["aliases"])
pd.DataFrame(lab.models())[["name", "version", "status", "approved_by", "aliases"]]""",
    ),
    (
        "md",
        """## 7. Encrypted scoring of new applicants

Your features are encrypted on your side (the platform receives a public context, no secret key); the
default protocol needs no deposit of your weights. Applicants without a scoring consent are refused one
by one.""",
    ),
    (
        "code",
        """with lab.connection() as conn:
    scorer = EncryptedScorer(conn, lr.bank_part, id_column="uscc", progress=False)
    scored = scorer.score(applicants)
print("protocol:", scorer.protocol,
      "| platform received a public context only:", scorer.public_context is not None)
print(scored["refused"].fillna("scored").value_counts().to_string())
scored = scored.merge(applicants[["uscc", "month", *selected]], on="uscc")
ok = scored["refused"].isna()
platform_logit = scored["score"] - bank_share(lr.bank_part, scored)
scored["points"] = card.points(scored, platform_logit)
scored.loc[ok, ["uscc", "month", "probability", "points"]].head()""",
    ),
    ("md", "## 8. Stability of the scored population, month by month (PSI against the training scores)"),
    (
        "code",
        """stability = monthly_stability(lr.scores, scored[ok], month="month", score="score",
                              reference_default_rate=float(bank["default"].mean()))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(stability["month"], stability["psi"])
ax.axhline(0.1, color="orange", ls=":", label="watch (0.1)")
ax.axhline(0.25, color="red", ls=":", label="shifted (0.25)")
ax.set(title="population stability index per month", ylabel="PSI")
ax.legend()
fig.tight_layout()
display(stability.round(3))
# The platform never sees a score: you send these aggregates, and your job page shows them.
lab.report_monitoring(job_id, stability, training_default_rate=float(bank["default"].mean()))
fig""",
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
