// Verifies, in the browser and without trusting the page's server-side code, that a ledger entry is in
// the consent log: (1) the entry's bytes hash to its leaf (RFC 9162 §2.1.1: SHA-256(0x00 || entry));
// (2) the inclusion proof leads from the leaf to the root of the signed checkpoint (RFC 9162 §2.1.3.2);
// (3) the checkpoint (C2SP signed note) carries a valid Ed25519 signature by the platform's key.
"use strict";
(function () {
  const enc = new TextEncoder();
  const hex = (s) => Uint8Array.from(s.match(/../g) || [], (b) => parseInt(b, 16));
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
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
    if (index >= size) throw new Error("leaf index beyond tree size");
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
    return { body, sigs, origin: lines[0], size: parseInt(lines[1], 10), root: b64(lines[2]) };
  }

  async function verifyNote(note, vkey) {
    // vkey: <name>+<hex key id>+<base64(0x01 || 32-byte Ed25519 key)>
    const [name, keyIdHex, keyB64] = [vkey.split("+")[0], vkey.split("+")[1], vkey.split("+").slice(2).join("+")];
    const keyBytes = b64(keyB64);
    if (keyBytes[0] !== 1) throw new Error("not an Ed25519 note key");
    const key = await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]);
    const sig = note.sigs.find((s) => s.name === name && eq(s.keyId, hex(keyIdHex)));
    if (!sig) throw new Error("checkpoint not signed by the platform key");
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.signature, enc.encode(note.body));
    if (!ok) throw new Error("checkpoint signature invalid");
  }

  let keyPromise = null;
  const platformKey = () => keyPromise || (keyPromise = fetch("/api/v1/ledger/public-key").then((r) => r.json()));

  async function verify(button) {
    const out = button.nextElementSibling;
    out.textContent = "…"; out.className = "result";
    try {
      const proof = JSON.parse(button.dataset.proof);
      const leaf = await leafHash(button.dataset.entry);
      if (!eq(leaf, hex(proof.leaf_hash))) throw new Error("entry does not hash to its leaf");
      const note = parseNote(document.getElementById("checkpoint").textContent);
      if (note.size !== proof.tree_size) throw new Error("proof is for another tree size");
      await verifyNote(note, (await platformKey()).vkey);
      const root = await rootFromInclusion(proof.leaf_index, proof.tree_size, leaf, proof.hashes.map(hex));
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
