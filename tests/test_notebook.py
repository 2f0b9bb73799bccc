"""The bank risk team's walkthrough (notebooks/joint_modelling_walkthrough.ipynb) runs end to end with
nbclient against a live platform on 127.0.0.1 seeded with small synthetic data, so it never rots: IV and
selection, the offered feature views, joint LR and GBDT with the alignment, the bank-only vs joint
comparison, the scorecard, approval by a second person, encrypted scoring and monthly stability."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest
import uvicorn
from nbclient import NotebookClient

from fincredit.platform.core.app import create_app
from fincredit.platform.core.services import build_services
from fincredit.platform.core.settings import Settings
from fincredit.platform.metered.joint_lab.seed import entitle, model_risk_officer, seed_joint_setting
from fincredit.platform.testing.plugin import new_institution, obtain_token

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "joint_modelling_walkthrough.ipynb"


@pytest.mark.slow
def test_joint_modelling_walkthrough_executes(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'fincredit.db'}",
        public_url="http://testserver",
        _env_file=None,
    )  # type: ignore[call-arg]
    services = build_services(settings)
    app = create_app(settings, services)
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, ("market.joint_modelling", "market.encrypted_scoring"))
    setting = seed_joint_setting(services, bank.org_id, n=300, seed=11)
    csv = tmp_path / "bank.csv"
    setting.bank.to_csv(csv, index=False)
    # New applicants over three months (the scoring-consenting ones are scored, the rest refused).
    applicants = setting.applicants.copy()
    applicants["month"] = [f"2026-0{1 + i % 3}" for i in range(len(applicants))]
    applicants_csv = tmp_path / "applicants.csv"
    applicants.to_csv(applicants_csv, index=False)
    with TestClient(app) as client:
        token = obtain_token(client, bank)
        risk_token = obtain_token(client, model_risk_officer(services, bank.org_id))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    env = {
        "FINCREDIT_URL": url,
        "FINCREDIT_TOKEN": token,
        "FINCREDIT_RISK_TOKEN": risk_token,
        "FINCREDIT_BANK_CSV": str(csv),
        "FINCREDIT_APPLICANTS_CSV": str(applicants_csv),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.should_exit = True
        thread.join(timeout=10)
        services.close()
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    assert "completed" in outputs and "aligned with consenting platform subjects" in outputs
    # The comparison figure plots both models, bank-only and joint, for both algorithms.
    for model in ("bank-only logistic", "joint logistic", "bank-only secureboost", "joint secureboost"):
        assert f"  {model} (AUC" in outputs
    assert "refused: joint-model-self-approval" in outputs and "approved ['champion']" in outputs
    assert "protocol: lr-partial" in outputs
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the comparison and the stability chart
    if os.environ.get("FINCREDIT_SAVE_NOTEBOOK"):
        nbformat.write(nb, NOTEBOOK)  # refresh the committed, executed copy
