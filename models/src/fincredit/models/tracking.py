"""MLflow tracking and model registry on a local SQLite backend.

By default everything lives under ``var/mlflow`` (or ``$FINCREDIT_MLFLOW_ROOT``): the tracking and
registry store ``mlflow.db`` and the artifacts in ``artifacts/``. Nothing needs a tracking server.

Registered versions are promoted with an alias (``production`` by default) rather than the stages
MLflow 3 deprecated; the serving side loads ``models:/<name>@production`` and reports the version it
got, so every score it returns can name the model version that made it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

from fincredit.models.errors import ModelNotFoundError, ModelsError

__all__ = [
    "DEFAULT_ALIAS",
    "Lineage",
    "LoadedModel",
    "RunRecord",
    "Tracking",
]

DEFAULT_ALIAS = "production"
_FLAVORS = ("lightgbm", "sklearn")


def _quiet() -> None:
    # MLflow logs table creation, pip inference and git lookups at INFO/WARNING on every run.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a model's data came from: catalog items, market datasets and the consents."""

    catalog_items: Sequence[str] = ()
    market_datasets: Sequence[str] = ()
    consent_ids: Sequence[str] = ()
    datasets: Mapping[str, str] = field(default_factory=dict)  # name -> description / path / hash
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["catalog_items"] = sorted(self.catalog_items)
        d["market_datasets"] = sorted(self.market_datasets)
        d["consent_ids"] = sorted(self.consent_ids)
        d["datasets"] = dict(self.datasets)
        return d

    def tags(self) -> dict[str, str]:
        # Tags stay short and searchable; the full consent list goes into lineage.json.
        consents = sorted(self.consent_ids)
        digest = hashlib.sha256("\n".join(consents).encode()).hexdigest()
        return {
            "lineage.catalog_items": ",".join(sorted(self.catalog_items)),
            "lineage.market_datasets": ",".join(sorted(self.market_datasets)),
            "lineage.consent_count": str(len(consents)),
            "lineage.consent_sha256": digest,
        }


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    experiment_id: str
    model_uri: str | None
    registered_name: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    name: str
    version: int
    run_id: str | None
    flavor: str
    model: Any
    alias: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def _pip_requirements(flavor: str) -> list[str]:
    # Giving MLflow the requirements skips its dependency inference, which imports the model in a
    # subprocess and costs ~10 s per logged model.
    pkgs = ["numpy", "pandas", "scikit-learn"] + (["lightgbm"] if flavor == "lightgbm" else [])
    out = []
    for p in pkgs:
        try:
            out.append(f"{p}=={_pkg_version(p)}")
        except Exception:  # pragma: no cover - a package metadata oddity, not worth failing a run
            out.append(p)
    return out


class Tracking:
    """A tracking + registry store rooted at ``root`` (default ``$FINCREDIT_MLFLOW_ROOT`` or var/mlflow)."""

    def __init__(self, root: str | Path | None = None) -> None:
        _quiet()
        import mlflow

        _quiet()  # importing mlflow installs its own handlers and levels
        self.root = Path(root or os.environ.get("FINCREDIT_MLFLOW_ROOT", "var/mlflow")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifact_root = self.root / "artifacts"
        self.artifact_root.mkdir(exist_ok=True)
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self._mlflow = mlflow
        self.client = mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def _activate(self) -> None:
        # mlflow.start_run / log_model use the process-wide URIs; point them here for each call.
        self._mlflow.set_tracking_uri(self.uri)
        self._mlflow.set_registry_uri(self.uri)

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        from mlflow.exceptions import MlflowException

        location = (self.artifact_root / name.replace("/", "_")).as_uri()
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except MlflowException:
            # Another process created it between our lookup and insert.
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def log_training_run(
        self,
        *,
        experiment: str,
        model: Any | None,
        flavor: str = "lightgbm",
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        lineage: Lineage | None = None,
        tags: Mapping[str, str] | None = None,
        artifacts: Sequence[str | Path] = (),
        documents: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        register_as: str | None = None,
        alias: str | None = None,
        input_example: Any | None = None,
    ) -> RunRecord:
        """Log one training run (params, AUC/KS metrics, lineage, files, the model) and optionally
        register the model as a new version of ``register_as`` and point ``alias`` at it.

        ``documents`` maps artifact file names (``"platform_part.json"``) to JSON-serialisable values —
        for models MLflow has no flavor for, such as one party's half of a federated model, logged
        with ``model=None``."""
        if flavor not in _FLAVORS:
            raise ModelsError(f"unsupported model flavor {flavor!r}; use one of {_FLAVORS}")
        if alias is not None and register_as is None:
            raise ModelsError("an alias needs a registered model name (register_as)")
        self._activate()
        mlflow = self._mlflow
        exp_id = self.experiment_id(experiment)
        model_uri: str | None = None
        version: int | None = None
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name) as run:
            if params:
                mlflow.log_params({k: _param(v) for k, v in params.items()})
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            all_tags = dict(tags or {})
            if lineage is not None:
                all_tags.update(lineage.tags())
                mlflow.log_dict(lineage.as_dict(), "lineage.json")
            if all_tags:
                mlflow.set_tags(all_tags)
            for path in artifacts:
                mlflow.log_artifact(str(path))
            for file_name, doc in (documents or {}).items():
                mlflow.log_dict(doc, file_name)
            if model is not None:
                signature = None
                if input_example is not None:
                    from mlflow.models import infer_signature

                    signature = infer_signature(input_example)
                log = mlflow.lightgbm.log_model if flavor == "lightgbm" else mlflow.sklearn.log_model
                extra: dict[str, Any] = {}
                if flavor == "sklearn":
                    extra["skops_trusted_types"] = _skops_types(model)
                # Registration announces itself on stderr with print(), not logging.
                with contextlib.redirect_stderr(io.StringIO()):
                    info = log(
                        model,
                        name="model",
                        signature=signature,
                        pip_requirements=_pip_requirements(flavor),
                        registered_model_name=register_as,
                        **extra,
                    )
                model_uri = info.model_uri
                if register_as is not None:
                    version = int(info.registered_model_version)
                    self.client.set_model_version_tag(register_as, str(version), "flavor", flavor)
                    for k, v in all_tags.items():
                        if k.startswith("lineage."):
                            self.client.set_model_version_tag(register_as, str(version), k, v)
        if alias is not None and register_as is not None and version is not None:
            self.set_alias(register_as, version, alias)
        return RunRecord(run.info.run_id, exp_id, model_uri, register_as, version)

    def register(self, model_uri: str, name: str, *, alias: str | None = None) -> int:
        """Register an already logged model as a new version of ``name``."""
        self._activate()
        with contextlib.redirect_stderr(io.StringIO()):
            mv = self._mlflow.register_model(model_uri, name)
        version = int(mv.version)
        if alias is not None:
            self.set_alias(name, version, alias)
        return version

    def set_alias(self, name: str, version: int, alias: str = DEFAULT_ALIAS) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def versions(self, name: str) -> list[int]:
        found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        return sorted(int(mv.version) for mv in found)

    def latest_version(self, name: str) -> int:
        versions = self.versions(name)
        if not versions:
            raise ModelNotFoundError(f"no registered model {name!r}")
        return versions[-1]

    def load(
        self, name: str, *, alias: str | None = DEFAULT_ALIAS, version: int | None = None
    ) -> LoadedModel:
        """Load a registered model by alias (default ``production``), explicit version, or — with
        ``alias=None`` and no version — the latest version. Returns the model with its version number."""
        from mlflow.exceptions import MlflowException

        self._activate()
        try:
            if version is not None:
                mv = self.client.get_model_version(name, str(version))
                used_alias = None
            elif alias is not None:
                mv = self.client.get_model_version_by_alias(name, alias)
                used_alias = alias
            else:
                mv = self.client.get_model_version(name, str(self.latest_version(name)))
                used_alias = None
        except MlflowException as exc:
            raise ModelNotFoundError(
                f"no version of registered model {name!r}"
                + (f" with alias {alias!r}" if alias and version is None else f" numbered {version}")
            ) from exc
        uri = f"models:/{name}/{mv.version}"
        flavor = (mv.tags or {}).get("flavor") or _flavor_of(uri)
        loader = self._mlflow.lightgbm.load_model if flavor == "lightgbm" else self._mlflow.sklearn.load_model
        return LoadedModel(
            name=name,
            version=int(mv.version),
            run_id=mv.run_id,
            flavor=flavor,
            model=loader(uri),
            alias=used_alias,
            tags=dict(mv.tags or {}),
        )

    def run(self, run_id: str) -> dict[str, Any]:
        """Params, metrics and tags of a run (for reports and tests)."""
        r = self.client.get_run(run_id)
        return {"params": dict(r.data.params), "metrics": dict(r.data.metrics), "tags": dict(r.data.tags)}

    def lineage(self, run_id: str) -> dict[str, Any]:
        return dict(self.document(run_id, "lineage.json"))

    def document(self, run_id: str, file_name: str) -> Any:
        """A JSON artifact logged with the run (``lineage.json`` or one of ``documents``)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = self.client.download_artifacts(run_id, file_name, tmp)
            return json.loads(Path(path).read_text(encoding="utf-8"))


def _skops_types(model: Any) -> list[str]:
    # MLflow 3 saves scikit-learn models with skops, which refuses to load types outside its allow
    # list (numpy dtypes, our pipeline steps). This model was trained in this process, so the types
    # it is made of are the ones we trust.
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def _flavor_of(uri: str) -> str:
    from mlflow.models import get_model_info

    flavors = get_model_info(uri).flavors
    for f in _FLAVORS:
        if f in flavors:
            return f
    raise ModelsError(f"model at {uri} has none of the flavors {_FLAVORS}")


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _param(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return ",".join(map(str, value))[:6000]
    return value
