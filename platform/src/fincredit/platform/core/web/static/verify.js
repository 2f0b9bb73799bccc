// Verifies, in the browser and without trusting the page's server-side code, that a ledger entry is in
// the consent log: (1) the entry's bytes hash to its leaf (RFC 9162 §2.1.1: SHA-256(0x00 || entry));
// (2) the inclusion proof leads from the leaf to the root of the signed checkpoint (RFC 9162 §2.1.3.2);
// (3) the checkpoint (C2SP signed note) carries a valid Ed25519 signature by the platform's key;
// (4) when the platform names witnesses (public key document: "witnesses", "witness_quorum"), that enough of
//     them co-signed the checkpoint (C2SP tlog-cosignature/v1: Ed25519 over "cosignature/v1\ntime <t>\n" + body).
// Every hash, key and signature has its length checked before it is compared or used.
"use strict";
(function () {
  const enc = new TextEncoder();
  const hash = (s, what) => {  // 64 hex digits, nothing else
    if (typeof s !== "string" || !/^[0-9a-f]{64}$/.test(s)) throw new Error(what + " is not a 32-byte hash");
    return Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
  };
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const sized = (bytes, n, what) => {
    if (bytes.length !== n) throw new Error(what + " is " + bytes.length + " bytes, not " + n);
    return bytes;
  };
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function sha256(...parts) {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const buf = new Uint8Array(total);
    let off = 0;
    for (const p of parts) { buf.set(p, off); off += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  }
  const leafHash = (entry) => sha256(Uint8Array.of(0), enc.encode(entry));
  const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

  async function rootFromInclusion(index, size, leaf, path) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
      throw new Error("leaf index beyond tree size");
    }
    let fn = BigInt(index), sn = BigInt(size - 1), r = leaf;
    for (const p of path) {
      if (sn === 0n) throw new Error("proof too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("proof too short");
    return r;
  }

  function parseNote(text) {
    const split = text.indexOf("\n\n");
    if (split < 0) throw new Error("not a signed note");
    const body = text.slice(0, split + 1);
    const sigs = text.slice(split + 2).split("\n").filter((l) => l.startsWith("\u2014 ")).map((l) => {
      const [, name, sig] = l.split(" ");
      const raw = b64(sig);
      return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
    const lines = body.slice(0, -1).split("\n");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1] || "")) throw new Error("checkpoint size is not a number");
    const root = sized(b64(lines[2] || ""), 32, "checkpoint root hash");
    return { body, sigs, origin: lines[0], size: Number(lines[1]), root };
  }

  // vkey: <name>+<hex key id>+<base64(type || 32-byte Ed25519 key)>; type 0x01 signs notes, 0x04 cosigns.
  async function parseVkey(vkey, type) {
    const [name, keyIdHex] = vkey.split("+", 2);
    const keyBytes = sized(b64(vkey.split("+").slice(2).join("+")), 33, "verifier key");
    if (keyBytes[0] !== type || !/^[0-9a-f]{8}$/.test(keyIdHex)) throw new Error("not an Ed25519 key of type " + type);
    const key = await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name, keyId: Uint8Array.from(keyIdHex.match(/../g), (b) => parseInt(b, 16)), key };
  }
  const byKey = (note, k) => note.sigs.filter((s) => s.name === k.name && eq(s.keyId, k.keyId));

  async function verifyNote(note, vkey) {
    const k = await parseVkey(vkey, 1);
    const sig = byKey(note, k)[0];
    if (!sig) throw new Error("checkpoint not signed by the platform key");
    sized(sig.signature, 64, "checkpoint signature");
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, k.key, sig.signature, enc.encode(note.body));
    if (!ok) throw new Error("checkpoint signature invalid");
  }

  async function verifyWitnesses(note, witnesses, quorum) {
    let count = 0;
    for (const vkey of witnesses) {
      const w = await parseVkey(vkey, 4);
      const sigs = byKey(note, w);
      for (const s of sigs) {
        const raw = sized(s.signature, 72, "cosignature");  // u64 timestamp || Ed25519 signature
        const time = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0);
        const msg = enc.encode("cosignature/v1\ntime " + time + "\n" + note.body);
        if (!(await crypto.subtle.verify({ name: "Ed25519" }, w.key, raw.slice(8), msg))) {
          throw new Error("cosignature by " + w.name + " invalid");
        }
      }
      if (sigs.length) count += 1;
    }
    if (count < quorum) throw new Error("co-signed by " + count + " witnesses, " + quorum + " needed");
  }

  let keyPromise = null;
  const platformKey = () => keyPromise || (keyPromise = fetch("/api/v1/ledger/public-key").then((r) => r.json()));

  async function verify(button) {
    const out = button.nextElementSibling;
    out.textContent = "…"; out.className = "result";
    try {
      const proof = JSON.parse(button.dataset.proof);
      const leaf = await leafHash(button.dataset.entry);
      if (!eq(leaf, hash(proof.leaf_hash, "leaf hash"))) throw new Error("entry does not hash to its leaf");
      const note = parseNote(document.getElementById("checkpoint").textContent);
      if (note.size !== proof.tree_size) throw new Error("proof is for another tree size");
      const keys = await platformKey();
      await verifyNote(note, keys.vkey);
      const witnesses = keys.witnesses || [];
      if (witnesses.length) await verifyWitnesses(note, witnesses, keys.witness_quorum ?? witnesses.length);
      const path = (proof.hashes || []).map((h, i) => hash(h, "proof hash " + i));
      const root = await rootFromInclusion(proof.leaf_index, proof.tree_size, leaf, path);
      if (!eq(root, note.root)) throw new Error("root mismatch");
      out.textContent = "✔ " + window.FINCREDIT_TEXT.ok; out.className = "result ok";
    } catch (e) {
      out.textContent = "✘ " + window.FINCREDIT_TEXT.failed + ": " + e.message; out.className = "result bad";
    }
  }
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.verify");
    if (b) verify(b);
  });
})();
