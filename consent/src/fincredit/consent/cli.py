"""``fincredit-consent``: verify the consent ledger offline, trusting nothing but the platform's public key.

Exit status: 0 verified, 1 verification failed (the message says what and where), 2 bad usage or input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fincredit.consent.authorisation import replay_export
from fincredit.consent.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, parse_signed_note
from fincredit.consent.errors import CheckpointError, LedgerError, ProofError
from fincredit.consent.export import read_export
from fincredit.consent.proofs import ConsistencyProof, InclusionProof
from fincredit.consent.verification import verify_log
from fincredit.consent.witness import (
    CosignatureSigner,
    CosignatureVerifier,
    SqliteWitnessState,
    Witness,
    WitnessPolicy,
    witness_app,
)

__all__ = ["app"]

app = typer.Typer(
    name="fincredit-consent",
    help="Verify the fincredit consent ledger offline: exports, signed checkpoints, proofs.",
    no_args_is_help=True,
    add_completion=False,
)

KeyOption = Annotated[
    str,
    typer.Option(
        "--key",
        "-k",
        help="The platform's public key: a PEM file, or a signed-note verifier key "
        "(<name>+<hex id>+<base64>) given inline or in a file.",
    ),
]
OriginOption = Annotated[
    str | None, typer.Option("--origin", help="Insist that checkpoints are for this log origin.")
]


class _Key:
    """Either a named verifier key, or a bare Ed25519 key (PEM) that verifies whatever name it signed as."""

    def __init__(self, spec: str) -> None:
        path = Path(spec)
        text = path.read_text(encoding="utf-8") if path.is_file() else spec
        self.verifier: NoteVerifier | None = None
        self.public_key: Ed25519PublicKey | None = None
        try:
            if "BEGIN PUBLIC KEY" in text:
                key = load_pem_public_key(text.encode())
                if not isinstance(key, Ed25519PublicKey):
                    raise CheckpointError("the PEM key is not an Ed25519 public key")
                self.public_key = key
            else:
                self.verifier = NoteVerifier.from_vkey(text)
        except (ValueError, CheckpointError) as exc:
            raise typer.BadParameter(f"cannot read the key: {exc}", param_hint="--key") from exc

    def verifiers_for(self, note: str) -> list[NoteVerifier]:
        if self.verifier is not None:
            return [self.verifier]
        assert self.public_key is not None
        out = []
        for sig in parse_signed_note(note)[1]:
            try:
                out.append(NoteVerifier(sig.name, self.public_key))
            except CheckpointError:
                continue
        return out


def _open(path: Path, key: _Key, origin: str | None, policy: WitnessPolicy | None = None) -> Checkpoint:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read checkpoint {path}: {exc}") from exc
    try:
        checkpoint = open_checkpoint(text, key.verifiers_for(text), origin)
        if policy is not None:
            cosigned = policy.check(text)
            names = ", ".join(sorted(c.name for c in cosigned))
            typer.echo(f"ok   {path}: co-signed by {len(cosigned)} trusted witnesses ({names})")
        return checkpoint
    except CheckpointError as exc:
        _fail(f"checkpoint {path}: {exc}")


def _read_spec(spec: str) -> str:
    path = Path(spec)
    return path.read_text(encoding="utf-8") if path.is_file() else spec


def _policy(specs: list[str], quorum: int | None) -> WitnessPolicy | None:
    if not specs:
        if quorum is not None:
            raise typer.BadParameter("--quorum needs --witness keys", param_hint="--quorum")
        return None
    try:
        verifiers = [CosignatureVerifier.from_vkey(_read_spec(s)) for s in specs]
        return WitnessPolicy(verifiers, len(verifiers) if quorum is None else quorum)
    except CheckpointError as exc:
        raise typer.BadParameter(str(exc), param_hint="--witness") from exc


def _fail(message: str) -> NoReturn:
    typer.echo(f"FAIL {message}")
    typer.echo("VERIFICATION FAILED")
    raise typer.Exit(1)


def _load_json(path: Path) -> dict[str, object]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read proof {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise typer.BadParameter(f"{path} is not a JSON object")
    return doc


@app.command()
def verify(
    key: KeyOption,
    log: Annotated[
        Path | None, typer.Argument(help="Exported log (.parquet or JSON lines: seq, entry, leaf_hash).")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None, typer.Option("--checkpoint", "-c", help="A signed checkpoint (repeatable).")
    ] = None,
    old: Annotated[
        Path | None, typer.Option("--old", help="Earlier checkpoint for a consistency check.")
    ] = None,
    new: Annotated[
        Path | None, typer.Option("--new", help="Later checkpoint for a consistency check.")
    ] = None,
    proof: Annotated[
        Path | None,
        typer.Option("--proof", help="Consistency proof JSON between --old and --new (no log needed)."),
    ] = None,
    origin: OriginOption = None,
    authorisation: Annotated[
        bool,
        typer.Option(
            "--authorisation",
            help="Also replay every consent's state from the log and check that each access was covered "
            "by a grant active at its moment (purpose, scopes, mode, window, use limit).",
        ),
    ] = False,
    credit_authority: Annotated[
        list[str] | None,
        typer.Option(
            "--credit-authority",
            help="With --authorisation: the grantee id of the credit authority, whose accesses need no "
            "consent (G§16); an access claiming that basis for anyone else fails. Repeatable.",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A trusted witness's verifier key (<name>+<hex id>+<base64(0x04 || key)>, inline or in a "
            "file). Repeatable. Every checkpoint must then carry valid cosignatures by --quorum of them.",
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option("--quorum", help="How many of the --witness keys must have co-signed (default: all)."),
    ] = None,
) -> None:
    """Recompute every leaf hash and the Merkle root of LOG and check them against signed checkpoints.

    With --old and --new, also check that the later checkpoint extends the earlier one: from the log, or
    from a consistency proof (--proof) when no log is given. With --authorisation, also check from the log
    alone that every access was authorised.
    """
    k = _Key(key)
    policy = _policy(witness or [], quorum)
    if (old is None) != (new is None):
        raise typer.BadParameter("--old and --new go together")
    if log is None and old is None:
        raise typer.BadParameter("give an exported log, or --old/--new with a --proof")
    labelled: list[tuple[str, Checkpoint]] = [(str(p), _open(p, k, origin, policy)) for p in checkpoint or []]
    cp_old = cp_new = None
    if old is not None and new is not None:
        cp_old, cp_new = _open(old, k, origin, policy), _open(new, k, origin, policy)
        typer.echo(f"ok   signatures of {old} (size {cp_old.size}) and {new} (size {cp_new.size})")
        if cp_old.origin != cp_new.origin:
            _fail(f"{old} is for log {cp_old.origin!r} and {new} for {cp_new.origin!r}")
        if cp_new.size < cp_old.size:
            _fail(f"{new} (size {cp_new.size}) is smaller than {old} (size {cp_old.size}): the log shrank")
        if proof is not None:
            try:
                cproof = ConsistencyProof.from_json(_load_json(proof))
                if (cproof.old_size, cproof.new_size) != (cp_old.size, cp_new.size):
                    _fail(
                        f"the proof is between sizes {cproof.old_size} and {cproof.new_size}, "
                        f"the checkpoints sign {cp_old.size} and {cp_new.size}"
                    )
                cproof.verify(cp_old.root_hash, cp_new.root_hash)
            except ProofError as exc:
                _fail(f"{new} is not consistent with {old}: {exc}")
            typer.echo(f"ok   {new} extends {old} (consistency proof verified)")
        elif log is None:
            raise typer.BadParameter("without a log, a consistency check needs --proof")
        labelled += [(str(old), cp_old), (str(new), cp_new)]
    elif proof is not None:
        raise typer.BadParameter("--proof needs --old and --new")
    if authorisation and log is None:
        raise typer.BadParameter("--authorisation replays an exported log: give one")
    origins = sorted({cp.origin for _, cp in labelled})
    if len(origins) > 1:
        _fail(f"the checkpoints are for different logs: {origins}")
    if log is not None:
        if not labelled:
            raise typer.BadParameter("verifying a log needs at least one signed checkpoint (-c)")
        try:
            report = verify_log(read_export(log), labelled)
        except (LedgerError, OSError, ValueError) as exc:
            _fail(f"{log}: {exc}")
        for line in report.lines()[:-1]:
            typer.echo(line)
        if not report.ok:
            typer.echo("VERIFICATION FAILED")
            raise typer.Exit(1)
        if authorisation:
            try:
                replayed = replay_export(log, credit_authorities=credit_authority)
            except (LedgerError, OSError, ValueError) as exc:
                _fail(f"{log}: {exc}")
            for line in replayed.lines():
                typer.echo(line)
            if not replayed.ok:
                typer.echo("VERIFICATION FAILED")
                raise typer.Exit(1)
        if cp_old is not None and cp_new is not None:
            typer.echo(f"ok   {new} extends {old}: both roots recomputed from the same log")
    typer.echo("VERIFIED")


@app.command("verify-inclusion")
def verify_inclusion_cmd(
    proof: Annotated[
        Path, typer.Argument(help="Inclusion proof JSON (leaf_index, tree_size, leaf_hash, hashes).")
    ],
    key: KeyOption,
    checkpoint: Annotated[
        Path, typer.Option("--checkpoint", "-c", help="The signed checkpoint of tree_size.")
    ],
    origin: OriginOption = None,
) -> None:
    """Check that one entry is in the log as signed by a checkpoint."""
    cp = _open(checkpoint, _Key(key), origin)
    try:
        p = InclusionProof.from_json(_load_json(proof))
        if p.tree_size != cp.size:
            _fail(f"the proof is for tree size {p.tree_size}, the checkpoint signs size {cp.size}")
        p.verify(cp.root_hash)
    except ProofError as exc:
        _fail(f"{proof}: {exc}")
    typer.echo(f"ok   entry seq {p.leaf_index} is in the log of size {cp.size} signed in {checkpoint}")
    typer.echo("VERIFIED")


@app.command("verify-consistency")
def verify_consistency_cmd(
    proof: Annotated[Path, typer.Argument(help="Consistency proof JSON (old_size, new_size, hashes).")],
    key: KeyOption,
    old: Annotated[Path, typer.Option("--old", help="The earlier signed checkpoint.")],
    new: Annotated[Path, typer.Option("--new", help="The later signed checkpoint.")],
    origin: OriginOption = None,
) -> None:
    """Check that a later checkpoint is an append-only extension of an earlier one."""
    verify(
        key=key,
        log=None,
        checkpoint=None,
        old=old,
        new=new,
        proof=proof,
        origin=origin,
        authorisation=False,
        credit_authority=None,
        witness=None,
        quorum=None,
    )


witness_cli = typer.Typer(
    name="witness",
    help="Run an independent witness (C2SP tlog-witness) that co-signs the ledger's checkpoints.",
    no_args_is_help=True,
)
app.add_typer(witness_cli)


@witness_cli.command("keygen")
def witness_keygen(
    name: Annotated[
        str, typer.Option("--name", help="The witness's name, e.g. witness.regulator.example/w1.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Create the witness's Ed25519 key; print its verifier key (what readers put in their policy)."""
    if out.exists():
        raise typer.BadParameter(f"{out} exists; a witness keeps its key", param_hint="--out")
    signer = CosignatureSigner.generate(name)
    pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    out.touch(mode=0o600)
    out.write_bytes(pem)
    typer.echo(signer.verifier.vkey())


@witness_cli.command("serve")
def witness_serve(
    name: Annotated[str, typer.Option("--name", help="The witness's name (as given to keygen).")],
    key_file: Annotated[Path, typer.Option("--key", help="The witness's private key (PEM).")],
    state: Annotated[
        Path, typer.Option("--state", help="SQLite file of the co-signed sizes; keep it: it is the witness.")
    ],
    log: Annotated[
        list[str],
        typer.Option("--log", help="A log's verifier key (its name is the log's origin). Repeatable."),
    ],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8090,
    prefix: Annotated[str, typer.Option("--prefix", help="URL prefix of add-checkpoint.")] = "",
) -> None:
    """Serve POST <prefix>/add-checkpoint: co-sign each checkpoint that extends the last one co-signed."""
    try:
        import uvicorn
    except ImportError:
        typer.echo("the witness server needs uvicorn: pip install 'fincredit-consent[witness]'", err=True)
        raise typer.Exit(2) from None
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise typer.BadParameter("the witness key is not an Ed25519 private key", param_hint="--key")
    logs: dict[str, list[NoteVerifier]] = {}
    for spec in log:
        try:
            verifier = NoteVerifier.from_vkey(_read_spec(spec))
        except CheckpointError as exc:
            raise typer.BadParameter(str(exc), param_hint="--log") from exc
        logs.setdefault(verifier.name, []).append(verifier)
    witness = Witness(CosignatureSigner(name, private), logs, SqliteWitnessState(state))
    typer.echo(
        f"witness {witness.signer.verifier.vkey()} for logs {sorted(logs)} on http://{host}:{port}{prefix}"
    )
    uvicorn.run(
        witness_app(witness, prefix=prefix), host=host, port=port, log_level="warning", access_log=False
    )
