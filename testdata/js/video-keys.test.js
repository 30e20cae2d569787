// Scenarios of static/video-keys.js, run in Chromium by
// cmd/portal/video_keys_test.go: participants exchange their relay
// messages through a simulated server, which can tamper with them. The
// expression resolves to a list of failures (empty when all hold).
(async () => {
  const failures = [];
  const fail = (s) => failures.push(s);

  function participant(id) {
    const p = { id, codes: {}, keys: [], out: [] };
    p.k = window.PortalVideoKeys({
      relay: (to, data) => p.out.push({ to, data: JSON.parse(JSON.stringify(data)) }),
      key: (epoch, raw) => p.keys.push({ epoch, raw: Array.from(raw).join(",") }),
      use: () => {},
      codes: (c, blocked) => { p.codes = c; p.blocked = blocked; },
    });
    return p;
  }
  function tellPeers(all, host) {
    const ids = Object.keys(all);
    for (const p of Object.values(all)) p.k.peers(p.id, host, ids.filter((x) => x !== p.id));
  }
  // deliver passes every queued message on (through tamper, which may
  // change or drop it) until nothing moves for a while.
  async function deliver(all, tamper) {
    let quiet = 0;
    while (quiet < 5) {
      let moved = false;
      for (const p of Object.values(all)) {
        for (const m of p.out.splice(0)) {
          moved = true;
          const d = tamper ? await tamper(p.id, m.to, m.data) : m.data;
          if (d && all[m.to]) all[m.to].k.relay(p.id, d);
        }
      }
      quiet = moved ? 0 : quiet + 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const lastKey = (p) => (p.keys.length ? p.keys[p.keys.length - 1].raw : "");
  const codeOf = (p, id) => (p.codes[id] ? p.codes[id].code : undefined);
  const b64 = (b) => btoa(String.fromCharCode.apply(null, b));
  const attackerKey = async () => {
    const kp = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    return new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
  };

  // 1. Honest: the pair's codes agree and the room key arrives.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2"), "link-10": participant("link-10") };
    tellPeers(all, "staff-1");
    await deliver(all);
    for (const [a, b] of [["staff-1", "link-2"], ["staff-1", "link-10"], ["link-2", "link-10"]]) {
      const ca = codeOf(all[a], b), cb = codeOf(all[b], a);
      if (!/^\d{3} \d{3}$/.test(ca || "") || ca !== cb) fail(`honest: codes of ${a} and ${b}: ${ca} / ${cb}`);
    }
    const host = lastKey(all["staff-1"]);
    if (!host || lastKey(all["link-2"]) !== host || lastKey(all["link-10"]) !== host) fail("honest: the room key did not reach everyone");
  }

  // 2. A server that replaces public keys and commitments with keys of
  // its own: both sides get keys, but their codes differ.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2") };
    const evil = {};
    const evilKey = async (to) => {
      if (!evil[to]) {
        const kp = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
        evil[to] = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
      }
      return evil[to];
    };
    tellPeers(all, "staff-1");
    await deliver(all, async (from, to, d) => {
      if (d.k === "pub") return Object.assign({}, d, { key: b64(await evilKey(to)) });
      if (d.k === "commit") {
        const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await evilKey(to)));
        return Object.assign({}, d, { hash: b64(h) });
      }
      if (d.k === "room") return null; // it cannot re-wrap what it cannot read
      return d;
    });
    const cs = codeOf(all["staff-1"], "link-2"), cp = codeOf(all["link-2"], "staff-1");
    if (!cs || !cp) fail(`man in the middle: a side shows no code (${cs} / ${cp}); the swap should be visible, not silent`);
    if (cs === cp) fail(`man in the middle: both sides show ${cs}`);
  }

  // 3. A public key that does not match its commitment is refused: no
  // code, no room key.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2") };
    tellPeers(all, "staff-1");
    // link-2 commits first (its id sorts first); its reveal is replaced.
    await deliver(all, async (from, to, d) => {
      if (d.k === "pub" && from === "link-2") {
        const kp = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
        const raw = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
        return Object.assign({}, d, { key: btoa(String.fromCharCode.apply(null, raw)) });
      }
      return d;
    });
    if (codeOf(all["staff-1"], "link-2")) fail("a key against its commitment was taken");
    if (all["link-2"].keys.length) fail("a room key went out over an unconfirmed pair");
  }

  // 4. The committing side never reveals its key before it has the
  // other's.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2") };
    tellPeers(all, "staff-1");
    await new Promise((r) => setTimeout(r, 100));
    const early = all["link-2"].out.filter((m) => m.data.k === "pub");
    if (early.length) fail("the committing side revealed its key unasked");
  }

  // 5. A second tab of the participant that answers commitments (the
  // same peer id, new keys, the others' list unchanged) asks, and gets
  // keys and the room key again; messages of the old round are ignored.
  {
    const all = { "staff-1": participant("staff-1"), "staff-2": participant("staff-2") };
    tellPeers(all, "staff-1");
    await deliver(all);
    const before = codeOf(all["staff-1"], "staff-2");
    all["staff-2"] = participant("staff-2");
    all["staff-2"].k.peers("staff-2", "staff-1", ["staff-1"]);
    await deliver(all);
    const c1 = codeOf(all["staff-1"], "staff-2"), c2 = codeOf(all["staff-2"], "staff-1");
    if (!c1 || c1 !== c2) fail(`second tab: codes ${c1} / ${c2}`);
    if (c1 === before) fail("second tab: the pair kept its old keys");
    if (!all["staff-1"].codes["staff-2"].changed) fail("second tab: the changed code is not marked as changed");
    if (!lastKey(all["staff-2"]) || lastKey(all["staff-2"]) !== lastKey(all["staff-1"])) fail("second tab: no room key");
  }

  // 6. Hostile relay data changes nothing and throws nothing.
  {
    const p = participant("staff-1");
    p.k.peers("staff-1", "staff-1", ["link-2"]);
    for (const d of [null, 7, "x", {}, { k: "pub", n: 1, key: "%%%" }, { k: "commit", n: "a" }, { k: "room", n: "a", epoch: "1", iv: 1, key: [] },
      { k: "pub", n: "zz", key: "AAAA" }, { k: "ask", n: {} }]) {
      p.k.relay("link-2", d);
      p.k.relay("", d);
    }
    await new Promise((r) => setTimeout(r, 50));
    if (p.codes["link-2"]) fail("hostile data made a code");
  }

  // 7. Someone the page does not list (and so shows no code for) gets
  // no keys: a server cannot slip in a participant of its own.
  {
    const host = participant("staff-1");
    host.k.peers("staff-1", "staff-1", ["link-2"]);
    const ghostKey = await attackerKey();
    host.k.relay("ghost", { k: "commit", n: "r1", hash: b64(new Uint8Array(await crypto.subtle.digest("SHA-256", ghostKey))) });
    await new Promise((r) => setTimeout(r, 50));
    host.k.relay("ghost", { k: "pub", n: "r1", key: b64(ghostKey) });
    await new Promise((r) => setTimeout(r, 100));
    if (host.out.some((m) => m.to === "ghost")) fail("the host answered someone it does not list");
    if (host.codes.ghost) fail("a code for someone not listed");
  }

  // 8. After the codes were compared, a server that starts new rounds
  // with the host (to re-key one side, or to try keys until the old code
  // shows again) makes the code marked as changed, and gets a few rounds
  // at most.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2") };
    tellPeers(all, "staff-1");
    await deliver(all);
    const host = all["staff-1"];
    let rounds = 1;
    for (let i = 0; i < 8; i++) {
      const key = await attackerKey();
      const h = new Uint8Array(await crypto.subtle.digest("SHA-256", key));
      host.out.length = 0;
      host.k.relay("link-2", { k: "commit", n: "evil" + i, hash: b64(h) });
      await new Promise((r) => setTimeout(r, 30));
      if (!host.out.some((m) => m.data.k === "pub")) continue; // refused
      host.k.relay("link-2", { k: "pub", n: "evil" + i, key: b64(key) });
      await new Promise((r) => setTimeout(r, 50));
      rounds++;
    }
    if (rounds > 5) fail(`the server got ${rounds} rounds with the host`);
    if (!host.codes["link-2"] || !host.codes["link-2"].changed) fail("a re-keyed pair is not marked as changed");
  }

  // 9. A room key of an earlier epoch, replayed after someone left, is
  // not taken back: the one who left still has it.
  {
    const all = { "staff-1": participant("staff-1"), "link-2": participant("link-2"), "link-3": participant("link-3") };
    const sent = [];
    tellPeers(all, "staff-1");
    await deliver(all, async (from, to, d) => { if (d.k === "room" && to === "link-2") sent.push(d); return d; });
    delete all["link-3"];
    tellPeers(all, "staff-1");
    await deliver(all, async (from, to, d) => { if (d.k === "room" && to === "link-2") sent.push(d); return d; });
    const now = lastKey(all["link-2"]);
    if (sent.length < 2 || now !== lastKey(all["staff-1"])) fail("no new room key after someone left");
    all["link-2"].k.relay("staff-1", sent[0]);
    await new Promise((r) => setTimeout(r, 100));
    if (lastKey(all["link-2"]) !== now) fail("a replayed room key of an earlier epoch was taken");
  }
  return failures;
})()
