"""Joint (SecureBoost-style) tree ensembles under CKKS: leaf-group masking, and the plaintext reference.

Raw score = ``base_score + learning_rate · Σ_trees leaf_value(reached leaf)``, probability = sigmoid
(FATE's convention; a LightGBM model converted by :func:`split_lightgbm_model` has learning_rate 1
and base_score 0 because LightGBM's leaf values already carry the shrinkage and the initial score).
A split goes left when ``value <= threshold`` (a missing value goes ``default_left``), or, when it is
categorical, when the value's integer code is one of its categories (a missing value goes right):
:func:`~fincredit.federation.joint_model.goes_left`, LightGBM's decision.

Protocol ``tree-groups``. Every leaf's path mixes bank splits and platform splits. Group the leaves
by their *platform signature*: the set of (platform split, direction) conditions on the path. Two
leaves with the same signature are reached under the same platform outcomes, so the platform only
needs one indicator per signature; sibling signatures are further rewritten as differences
(``[S, k right] = [S] - [S, k left]``) where that saves a ciphertext. A group is a conjunction of
platform conditions; each leaf contributes to one or more groups with a coefficient of ±1.

* Bank: for each applicant and group g, ``c_g = learning_rate · Σ_{leaf ∈ g} value(leaf) ·
  [the applicant satisfies the leaf's bank conditions]``. Leaves with no platform split on their path
  go into a plaintext sum the bank keeps. The bank encrypts c_g column-packed (one ciphertext per
  group per 4,096 applicants) and sends the groups' signatures (split ids and directions, the model's
  structure, no applicant data).
* Platform: for each applicant and group, ``p_g = [the applicant satisfies every platform condition
  of g]`` (zero for refused rows), and returns ``enc(Σ_g p_g · c_g)``: one ciphertext per chunk.
* Bank: decrypts and adds its plaintext sum and the base score.

Exactly one leaf per tree has both indicators 1, so the sum is the model's raw score (CKKS error
~1e-7 per group; the tests compare with plaintext prediction at 1e-5 and the predicted classes
exactly).

Protocol ``tree-masked`` (BFV, exact integer slots; the SDK's choice for requests smaller than a
few thousand rows, where ``tree-groups`` would still pay G ciphertexts per 4,096-row chunk). The bank
sends the same c_g, fixed-point (round(c_g · 2^24)), one slot per (applicant, group), applicant-major,
8,191 per ciphertext plus a dummy slot. The platform returns ``enc(p_g · c_g + r_g)`` slot-wise with
r uniform mod t (CSPRNG) and Σ_g r_g = 0 mod t for each applicant; the bank sums each applicant's
slots mod t and divides by 2^24 (error < 2^-25 per group value). Any G-1 slots of an applicant are
uniformly random, so the bank learns exactly the sum, as with ``tree-groups``; the dummy slot keeps
every product from being a transparent ciphertext when a whole payload's masks are zero. A 1-row
request costs one ciphertext instead of G.

What each side learns (semi-honest parties, both tree protocols):
* The platform: which applicants are scored, the signatures (which of its own split ids lie on which
  root-to-leaf paths, i.e. part of the trees' shape), and ciphertexts. Not the bank's feature values,
  its split outcomes, the leaf values or the scores.
* The bank: the final raw score per applicant, nothing per tree or per split. Knowing its own leaf
  indicators it may narrow down which platform outcomes are consistent with the total (with one tree
  the total names the leaf; with many trees and distinct leaf values, sometimes too): this is what the
  score itself reveals and is inherent to handing the bank a score. A *malicious* bank that encrypts
  crafted c_g (e.g. distinct powers of two) can read every p_g from the sum, i.e. the platform's path
  outcomes that SecureBoost's plain inference protocol reveals outright; CKKS here gives no circuit
  privacy against that, and the platform service's audit of request volumes is the control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal as ts

from fincredit.federation.errors import ScoringModelError, ScoringRequestError
from fincredit.federation.joint_model import (
    BankTreePart,
    PlatformSplit,
    PlatformTreePart,
    TreeNode,
)
from fincredit.federation.joint_model import goes_left as split_goes_left

__all__ = [
    "TREE_GROUPS",
    "TREE_MASKED",
    "TREE_VALUE_BITS",
    "CompiledTrees",
    "compile_trees",
    "plaintext_tree_raw",
    "platform_group_masks",
    "platform_tree_evaluate",
    "split_lightgbm_model",
]

TREE_GROUPS = "tree-groups"
TREE_MASKED = "tree-masked"
TREE_VALUE_BITS = 24  # tree-masked fixed point: group values travel as round(value * 2^24)

Signature = tuple[tuple[int, bool], ...]  # sorted (split_id, goes_left) pairs


@dataclass(frozen=True, slots=True)
class _BankCond:
    feature: int  # column in the bank's feature matrix
    threshold: float | None
    default_left: bool
    categories: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class CompiledTrees:
    """The bank's per-model precomputation: leaf paths split into bank conditions and platform groups."""

    conds: list[_BankCond]
    leaf_conds: list[list[tuple[int, bool]]]  # per leaf: (index into conds, goes_left)
    leaf_scaled_value: np.ndarray  # learning_rate * leaf value
    # Per leaf: (group index, coefficient) terms; group -1 is the constant the bank keeps in plaintext.
    leaf_terms: list[list[tuple[int, float]]]
    groups: list[Signature]

    def signatures_meta(self) -> list[list[list[int]]]:
        return [[[sid, int(left)] for sid, left in sig] for sig in self.groups]

    def bank_values(self, x_bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n x G group values to encrypt, n plaintext sum of leaves reached through bank splits only)."""
        n = x_bank.shape[0]
        left = np.empty((n, len(self.conds)), dtype=bool)
        for j, c in enumerate(self.conds):
            left[:, j] = split_goes_left(x_bank[:, c.feature], c.threshold, c.default_left, c.categories)
        values = np.zeros((n, len(self.groups)), dtype=np.float64)
        plain = np.zeros(n, dtype=np.float64)
        for leaf, path in enumerate(self.leaf_conds):
            reach = np.ones(n, dtype=bool)
            for j, goes_left in path:
                reach &= left[:, j] if goes_left else ~left[:, j]
            contrib = reach * self.leaf_scaled_value[leaf]
            for g, coef in self.leaf_terms[leaf]:
                if g < 0:
                    plain += coef * contrib
                else:
                    values[:, g] += coef * contrib
        return values, plain


def _check_tree(tree: list[TreeNode], t: int) -> None:
    for pos, node in enumerate(tree):
        if node.node_id != pos:
            raise ValueError(f"tree {t}: node at position {pos} has node_id {node.node_id}")


def compile_trees(part: BankTreePart) -> CompiledTrees:
    feature_index = {f: i for i, f in enumerate(part.bank_features)}
    cond_index: dict[_BankCond, int] = {}
    conds: list[_BankCond] = []
    leaf_conds: list[list[tuple[int, bool]]] = []
    leaf_values: list[float] = []
    leaf_sigs: list[Signature] = []
    for t, tree in enumerate(part.trees):
        _check_tree(tree, t)
        # Iterative DFS: (node id, bank conditions so far, platform conditions so far).
        stack: list[tuple[int, list[tuple[int, bool]], list[tuple[int, bool]]]] = [(0, [], [])]
        while stack:
            nid, bank_path, plat_path = stack.pop()
            node = tree[nid]
            if node.leaf_value is not None:
                leaf_conds.append(bank_path)
                leaf_values.append(float(node.leaf_value))
                leaf_sigs.append(tuple(sorted(set(plat_path))))
                continue
            if node.left is None or node.right is None:
                raise ValueError(f"tree {t}: internal node {nid} lacks a child")
            if node.owner == "bank":
                if node.feature not in feature_index or (node.threshold is None) == (node.categories is None):
                    raise ValueError(
                        f"tree {t}: bank node {nid} splits on unknown feature {node.feature!r}, "
                        "or has not exactly one of a threshold and categories"
                    )
                key = _BankCond(
                    feature_index[node.feature],
                    None if node.threshold is None else float(node.threshold),
                    node.default_left,
                    None if node.categories is None else tuple(sorted(node.categories)),
                )
                j = cond_index.setdefault(key, len(conds))
                if j == len(conds):
                    conds.append(key)
                stack.append((node.left, [*bank_path, (j, True)], plat_path))
                stack.append((node.right, [*bank_path, (j, False)], plat_path))
            elif node.owner == "platform":
                if node.split_id is None:
                    raise ValueError(f"tree {t}: platform node {nid} has no split_id")
                stack.append((node.left, bank_path, [*plat_path, (node.split_id, True)]))
                stack.append((node.right, bank_path, [*plat_path, (node.split_id, False)]))
            else:
                raise ValueError(f"tree {t}: node {nid} has no owner")
    combos = _merge_sibling_groups(set(leaf_sigs))
    basis = sorted({sig for combo in combos.values() for sig in combo if sig})
    group_of = {sig: g for g, sig in enumerate(basis)} | {(): -1}
    leaf_terms = [
        [(group_of[sig], coef) for sig, coef in combos[leaf_sig].items() if coef != 0.0]
        for leaf_sig in leaf_sigs
    ]
    return CompiledTrees(
        conds=conds,
        leaf_conds=leaf_conds,
        leaf_scaled_value=np.asarray(leaf_values, dtype=np.float64) * part.learning_rate,
        leaf_terms=leaf_terms,
        groups=basis,
    )


def _merge_sibling_groups(signatures: set[Signature]) -> dict[Signature, dict[Signature, float]]:
    """Express each signature's indicator over a smaller set of conjunctions (one ciphertext each).

    ``[S and k right] = [S] - [S and k left]`` exactly, since every row goes one way at split k. When
    both ``S+k:left`` and ``S+k:right`` are needed and ``S`` is needed too or empty (a constant the
    bank adds itself), rewriting ``S+k:right`` that way saves one ciphertext per chunk (about a fifth
    of them on depth-3 LightGBM ensembles).
    """
    combos: dict[Signature, dict[Signature, float]] = {sig: {sig: 1.0} for sig in signatures}
    present = {sig for sig in signatures if sig}
    changed = True
    while changed:
        changed = False
        for left_sig in sorted(present):
            for split_id, goes_left in left_sig:
                if not goes_left:
                    continue
                rest = tuple(c for c in left_sig if c != (split_id, True))
                if any(c[0] == split_id for c in rest):
                    continue
                right_sig = tuple(sorted((*rest, (split_id, False))))
                if right_sig not in present or (rest and rest not in present):
                    continue
                for combo in combos.values():
                    coef = combo.pop(right_sig, 0.0)
                    if coef:
                        combo[rest] = combo.get(rest, 0.0) + coef
                        combo[left_sig] = combo.get(left_sig, 0.0) - coef
                present.discard(right_sig)
                changed = True
                break
            if changed:
                break
    return combos


def parse_signatures(raw: Any, model: PlatformTreePart, max_groups: int) -> list[Signature]:
    """Validate the bank's group signatures against the platform's own split table."""
    if not isinstance(raw, list) or len(raw) > max_groups:
        raise ScoringRequestError(f"'groups' must be a list of at most {max_groups} signatures")
    out: list[Signature] = []
    for sig in raw:
        if not isinstance(sig, list) or not sig or len(sig) > 64:
            raise ScoringRequestError(
                "each group signature must be a non-empty list of at most 64 conditions"
            )
        conds: list[tuple[int, bool]] = []
        for cond in sig:
            if (
                not isinstance(cond, list)
                or len(cond) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in cond)
                or cond[1] not in (0, 1)
            ):
                raise ScoringRequestError("a group condition must be [split_id, 0|1]")
            if cond[0] not in model.splits:
                raise ScoringModelError(
                    f"split {cond[0]} is not one of this platform's splits for model {model.model_id}",
                    code="unknown_split",
                    status=422,
                )
            conds.append((cond[0], bool(cond[1])))
        out.append(tuple(conds))
    return out


def platform_group_masks(
    model: PlatformTreePart, groups: list[Signature], x_platform: np.ndarray, scored: np.ndarray
) -> np.ndarray:
    """n x G indicators: the applicant meets every platform condition of the group (0 for refused rows)."""
    col = {f: i for i, f in enumerate(model.platform_features)}
    left: dict[int, np.ndarray] = {}
    masks = np.zeros((x_platform.shape[0], len(groups)), dtype=bool)
    for g, sig in enumerate(groups):
        m = scored.copy()
        for sid, goes_left in sig:
            if sid not in left:
                split: PlatformSplit = model.splits[sid]
                left[sid] = split.goes_left(x_platform[:, col[split.feature]])
            m &= left[sid] if goes_left else ~left[sid]
        masks[:, g] = m
    return masks


def platform_tree_evaluate(columns: list[ts.CKKSVector], masks: np.ndarray) -> ts.CKKSVector | None:
    """``enc(Σ_g mask_g · c_g)`` for one chunk; None when every mask is zero (the sum is exactly 0)."""
    acc: ts.CKKSVector | None = None
    for g, ct in enumerate(columns):
        m = masks[:, g]
        if not m.any():
            continue
        term = ct * m.astype(np.float64)
        acc = term if acc is None else acc + term
    return acc


def plaintext_tree_raw(
    bank: BankTreePart, platform: PlatformTreePart, x_bank: np.ndarray, x_platform: np.ndarray
) -> np.ndarray:
    """Reference raw scores by walking every tree with both parties' features (the joined data)."""
    bcol = {f: i for i, f in enumerate(bank.bank_features)}
    pcol = {f: i for i, f in enumerate(platform.platform_features)}
    n = x_bank.shape[0]
    raw = np.full(n, float(bank.base_score))
    for tree in bank.trees:
        at = np.zeros(n, dtype=np.int64)
        leaf = np.array([node.leaf_value is not None for node in tree])
        while True:
            active = ~leaf[at]
            if not active.any():
                break
            for nid in np.unique(at[active]):
                node = tree[int(nid)]
                rows = at == nid
                if node.owner == "bank":
                    go_left = node.goes_left(x_bank[rows, bcol[str(node.feature)]])
                else:
                    split = platform.splits[int(node.split_id or 0)]
                    go_left = split.goes_left(x_platform[rows, pcol[split.feature]])
                at[rows] = np.where(go_left, int(node.left or 0), int(node.right or 0))
        values = np.array([node.leaf_value if node.leaf_value is not None else 0.0 for node in tree])
        raw += bank.learning_rate * values[at]
    return raw


def split_lightgbm_model(
    booster: Any, bank_features: list[str], platform_features: list[str], model_id: str
) -> tuple[BankTreePart, PlatformTreePart]:
    """Split a fitted LightGBM binary model into the joint halves (for tests, benchmarks, migrations).

    The booster's feature names must be the union of both lists. Numerical (``<=``) and categorical
    (``==``, categories ``a||b||c``) splits; LightGBM reads a categorical feature's codes as integers,
    and so does :func:`~fincredit.federation.joint_model.goes_left`.
    """
    dump = booster.dump_model()
    names: list[str] = dump["feature_names"]
    owners = {f: "bank" for f in bank_features} | {f: "platform" for f in platform_features}
    trees: list[list[TreeNode]] = []
    splits: dict[int, PlatformSplit] = {}
    for info in dump["tree_info"]:
        nodes: list[TreeNode] = []

        def add(struct: dict[str, Any], nodes: list[TreeNode] = nodes) -> int:
            nid = len(nodes)
            if "leaf_value" in struct:
                nodes.append(TreeNode(node_id=nid, leaf_value=float(struct["leaf_value"])))
                return nid
            decision = struct.get("decision_type", "<=")
            if decision not in ("<=", "=="):
                raise ScoringModelError(
                    f"only '<=' and '==' splits can be converted, not {decision!r}", code="unsupported_model"
                )
            node = TreeNode(node_id=nid, default_left=bool(struct.get("default_left", True)))
            nodes.append(node)
            feature = names[int(struct["split_feature"])]
            threshold: float | None = None
            if decision == "==":
                node.categories = sorted(int(c) for c in str(struct["threshold"]).split("||"))
                node.default_left = False
            else:
                threshold = float(struct["threshold"])
            if owners.get(feature) == "bank":
                node.owner, node.feature, node.threshold = "bank", feature, threshold
            elif owners.get(feature) == "platform":
                sid = len(splits)
                splits[sid] = PlatformSplit(sid, feature, threshold, node.default_left, node.categories)
                node.owner, node.split_id = "platform", sid
            else:
                raise ValueError(f"feature {feature!r} belongs to neither party")
            node.left = add(struct["left_child"])
            node.right = add(struct["right_child"])
            return nid

        add(info["tree_structure"])
        trees.append(nodes)
    bank = BankTreePart(
        model_id, base_score=0.0, learning_rate=1.0, trees=trees, bank_features=list(bank_features)
    )
    return bank, PlatformTreePart(model_id, list(platform_features), splits)
