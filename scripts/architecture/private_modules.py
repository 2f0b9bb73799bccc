"""An import-linter contract: a module whose name starts with ``_`` is private to the package that holds
it. Modules inside that package (at any depth) may import it; nothing outside may.

``fincredit.platform.consents._ledger`` may be imported by ``fincredit.platform.consents.router`` but not
by ``fincredit.platform.free._query``, which goes through ``fincredit.platform.consents`` instead.
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.imports import Module


def _owner(module: str) -> str | None:
    """The package a private module belongs to, or None when no part of the name is private."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


class PrivateModulesContract(Contract):
    type_name = "private_modules"

    containers = fields.ListField(subfield=fields.ModuleField())
    # "importer -> imported" pairs allowed on purpose (each with its reason where the contract is declared).
    allowed = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        containers = [str(c) for c in self.containers]  # type: ignore[attr-defined]
        allowed = {
            tuple(part.strip() for part in pair.split("->"))
            for pair in (self.allowed or [])  # type: ignore[attr-defined]
        }
        violations: list[tuple[str, str]] = []
        for importer in sorted(graph.modules):
            if not any(importer == c or importer.startswith(c + ".") for c in containers):
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                owner = _owner(imported)
                if owner is None or not any(owner == c or owner.startswith(c + ".") for c in containers):
                    continue
                if (importer, imported) in allowed:
                    continue
                if importer != owner and not importer.startswith(owner + "."):
                    violations.append((importer, imported))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        from importlinter.application import output

        for importer, imported in check.metadata["violations"]:
            output.print_error(f"{importer} imports {imported}, private to {Module(_owner(imported) or '')}")
