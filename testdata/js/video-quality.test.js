// Scenarios of static/video-quality.js, run in Chromium by
// cmd/portal/video_quality_test.go: the rules are given made-up samples,
// one every 2 seconds as video.js polls, and what they answer is checked.
// The expression is a list of failures (empty when all hold).
(() => {
  const failures = [];
  const fail = (s) => failures.push(s);
  const Q = window.PortalVideoQuality;
  const kbit = 1000;

  // run feeds a rule samples [rate, camera] from time `from` on, one
  // every 2 s, and returns the times and actions of what it answered.
  function run(rule, from, samples) {
    const out = [];
    samples.forEach(([rate, camera], i) => {
      const at = from + i * 2000;
      const a = rule.sample(at, rate, camera === undefined ? true : camera);
      if (a) out.push(a + "@" + at);
    });
    return out;
  }
  const times = (n, rate, camera) => Array.from({ length: n }, () => [rate, camera]);
  const expect = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };

  // 1. A good uplink, or one just at 100 kbit/s, is never paused.
  expect("good uplink", run(Q.uplink(), 0, times(100, 1500 * kbit)), []);
  expect("at the floor", run(Q.uplink(), 0, times(20, 100 * kbit)), []);

  // 2. Below 100 kbit/s three polls in a row pauses, once; two and one
  // are no run.
  expect("three low polls", run(Q.uplink(), 0, times(3, 99 * kbit)), ["pause@4000"]);
  expect("two low polls", run(Q.uplink(), 0, [[50 * kbit], [50 * kbit], [500 * kbit], [50 * kbit], [50 * kbit]]), []);

  // 3. An unknown estimate (no candidate pair yet, Firefox) breaks a run
  // and never pauses.
  expect("unknown in between", run(Q.uplink(), 0, [[50 * kbit], [50 * kbit], [null], [50 * kbit], [50 * kbit]]), []);
  expect("never known", run(Q.uplink(), 0, times(30, null)), []);
  expect("not a number", run(Q.uplink(), 0, times(10, NaN)), []);

  // 4. Paused, the camera is tried again after 20 s, not before; the
  // notice goes once the estimate is back above the floor.
  expect("the first try", run(Q.uplink(), 0, [...times(3, 50 * kbit), ...times(10, 50 * kbit), [80 * kbit], [300 * kbit], [300 * kbit]]),
    ["pause@4000", "resume@24000", "ok@28000"]);

  // 5. A try that fails again within 30 s waits twice as long, up to
  // 160 s: 20, 40, 80, 160, 160.
  {
    const rule = Q.uplink();
    const got = run(rule, 0, times(300, 30 * kbit));
    const pauses = got.filter((a) => a.startsWith("pause")).map((a) => +a.split("@")[1]);
    const resumes = got.filter((a) => a.startsWith("resume")).map((a) => +a.split("@")[1]);
    const waits = pauses.slice(0, 5).map((p, i) => resumes[i] - p);
    expect("the waits while it keeps failing", waits, [20000, 40000, 80000, 160000, 160000]);
    if (got.some((a) => a.startsWith("ok"))) fail("a failing uplink was said to be ok: " + got.join(" "));
    // Each failed try pauses after 3 low polls after the try.
    expect("a failed try's length", pauses.slice(1, 4).map((p, i) => p - resumes[i]), [6000, 6000, 6000]);
  }

  // 6. Video that held 30 s after a try (from the try to the next pause)
  // starts the waits anew; one that held 28 s does not.
  {
    const weak = times(3, 50 * kbit);
    const held = (seconds) => [...weak, ...times(10, 50 * kbit), ...times(seconds / 2, 400 * kbit), ...weak, ...times(40, 50 * kbit)];
    const wait = (got) => {
      const p = got.filter((a) => a.startsWith("pause")).map((a) => +a.split("@")[1]);
      const r = got.filter((a) => a.startsWith("resume")).map((a) => +a.split("@")[1]);
      return r[1] - p[1];
    };
    // Tried again at 24 s; good polls from 26 s to 24 + seconds, then 3
    // low ones: the second pause comes seconds + 6 after the try.
    expect("wait after video held 30 s", wait(run(Q.uplink(), 0, held(24))), 20000);
    expect("wait after video held 28 s", wait(run(Q.uplink(), 0, held(22))), 40000);
  }

  // 7. A camera the person switched off is never paused, and never put
  // back while it is off: the try waits until they switch it on.
  expect("camera off, weak uplink", run(Q.uplink(), 0, times(20, 20 * kbit, false)), []);
  {
    const samples = [...times(3, 50 * kbit), ...times(5, 50 * kbit), ...times(20, 50 * kbit, false), [50 * kbit, true], [400 * kbit, true]];
    expect("switched off while paused", run(Q.uplink(), 0, samples), ["pause@4000", "resume@56000", "ok@58000"]);
  }
  {
    const rule = Q.uplink();
    run(rule, 0, times(3, 50 * kbit));
    if (!rule.paused()) fail("paused() is false after a pause");
    run(rule, 6000, times(30, 50 * kbit, false));
    if (!rule.paused()) fail("the camera came back while switched off");
  }

  // 8. The numbers can be given.
  expect("own floor", run(Q.uplink({ floor: 200 * kbit, polls: 2 }), 0, times(2, 150 * kbit)), ["pause@2000"]);

  // 9. read: the estimate of the selected pair (through the transport,
  // or the nominated pair), and the frames per remote video track.
  {
    const report = (rows) => new Map(rows.map((r) => [r.id, r]));
    const r = Q.read(report([
      { id: "T", type: "transport", selectedCandidatePairId: "P1" },
      { id: "P0", type: "candidate-pair", nominated: true, state: "succeeded", availableOutgoingBitrate: 9 },
      { id: "P1", type: "candidate-pair", nominated: true, state: "succeeded", availableOutgoingBitrate: 84000 },
      { id: "I1", type: "inbound-rtp", kind: "video", trackIdentifier: "v1", framesDecoded: 42 },
      { id: "I2", type: "inbound-rtp", kind: "video", trackIdentifier: "v2" },
      { id: "I3", type: "inbound-rtp", kind: "audio", trackIdentifier: "a1" },
    ]));
    expect("read through the transport", r, { rate: 84000, frames: { v1: 42, v2: 0 } });
    expect("read the nominated pair", Q.read(report([
      { id: "P", type: "candidate-pair", nominated: true, state: "succeeded", availableOutgoingBitrate: 250000 },
    ])), { rate: 250000, frames: {} });
    expect("read without an estimate", Q.read(report([
      { id: "T", type: "transport", selectedCandidatePairId: "P" },
      { id: "P", type: "candidate-pair", nominated: true, state: "succeeded" },
    ])), { rate: null, frames: {} });
    expect("read nothing", Q.read(new Map()), { rate: null, frames: {} });
  }

  // 10. frames: a tile whose frames stop for 3 s is stalled once, and
  // cleared when they flow again.
  {
    const w = Q.frames();
    const seq = [1, 30, 60, 60, 60, 60, 60, 90, 120];
    const got = [];
    seq.forEach((f, i) => {
      const c = w.sample(i * 2000, [{ tile: "s1", track: "v1", frames: f }]);
      c.stalled.forEach((t) => got.push("stalled " + t + "@" + i * 2000));
      c.cleared.forEach((t) => got.push("cleared " + t + "@" + i * 2000));
    });
    // The last new frame was seen at 4 s: stalled at 8 s, not at 6 s, and
    // not said again at 10 and 12 s.
    expect("stalled and flowing again", got, ["stalled s1@8000", "cleared s1@14000"]);
  }
  {
    // Sampled every second, the mark comes 3 s after the last new frame.
    const w = Q.frames();
    const at = [];
    [5, 10, 10, 10, 10, 10].forEach((f, i) => { if (w.sample(i * 1000, [{ tile: "s1", track: "v1", frames: f }]).stalled.length) at.push(i * 1000); });
    expect("3 s without a new frame", at, [4000]);
  }
  {
    const w = Q.frames();
    const stalls = [];
    for (let i = 0; i < 10; i++) stalls.push(...w.sample(i * 2000, [{ tile: "s1", track: "v1", frames: 0 }]).stalled);
    expect("a video that never showed a picture", stalls, []);
  }
  {
    // A tile with two videos (a camera and a shared screen): one that
    // still moves keeps the tile from being marked.
    const w = Q.frames();
    const stalls = [];
    for (let i = 0; i < 10; i++) {
      stalls.push(...w.sample(i * 2000, [{ tile: "s1", track: "cam", frames: 5 }, { tile: "s1", track: "screen", frames: 5 + i }]).stalled);
    }
    expect("one of two videos still moves", stalls, []);
  }
  {
    // Two tiles are judged apart; a stalled one whose video is gone is
    // cleared.
    const w = Q.frames();
    const got = [];
    for (let i = 0; i < 6; i++) {
      const c = w.sample(i * 2000, [{ tile: "a", track: "va", frames: 10 }, { tile: "b", track: "vb", frames: 10 + i }]);
      got.push(...c.stalled.map((t) => "stalled " + t), ...c.cleared.map((t) => "cleared " + t));
    }
    got.push(...w.sample(12000, [{ tile: "b", track: "vb", frames: 20 }]).cleared.map((t) => "cleared " + t));
    expect("two tiles", got, ["stalled a", "cleared a"]);
  }
  {
    // Own threshold.
    const w = Q.frames({ stall: 1000 });
    w.sample(0, [{ tile: "a", track: "v", frames: 3 }]);
    expect("own threshold", w.sample(1000, [{ tile: "a", track: "v", frames: 3 }]).stalled, ["a"]);
  }
  return failures;
})()
