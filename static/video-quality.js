// The rules by which a call page meets a weak connection (video.js asks
// them every 2 seconds, with what pc.getStats() says). They only decide;
// they touch no page and no connection, so that
// testdata/js/video-quality.test.js can play them through.
//
//   - uplink: the browser's congestion control lowers what it sends by
//     itself, but on a very poor uplink it goes on sending video nobody
//     can watch. When the estimate of what may be sent
//     (availableOutgoingBitrate) stays below 100 kbit/s for 3 polls in a
//     row, the camera's video is paused (audio goes on); it is tried again
//     after 20 seconds, after twice as long each time the video did not
//     hold for 30 seconds since the last try, at most 160 seconds. Only
//     the camera is paused, never a shared screen, and it is put back only
//     while the person's camera toggle is on.
//   - frames: a remote video whose decoded frames stopped rising for 3
//     seconds, after it had shown a picture, is marked paused on its tile,
//     so that nobody takes a still picture for a frozen person.
(function () {
  "use strict";

  // read takes what an RTCPeerConnection's getStats() resolved to (a
  // Map-like RTCStatsReport) and returns { rate, frames }: the estimate of
  // the bits a second that may be sent now over the selected candidate
  // pair (null where the browser does not say, as Firefox), and the frames
  // decoded so far per remote video track id.
  function read(stats) {
    var pair = null, frames = {};
    stats.forEach(function (r) {
      if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId) || pair;
      if (r.type === "inbound-rtp" && r.kind === "video" && r.trackIdentifier) frames[r.trackIdentifier] = r.framesDecoded || 0;
    });
    if (!pair) stats.forEach(function (r) { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
    var rate = pair && typeof pair.availableOutgoingBitrate === "number" ? pair.availableOutgoingBitrate : null;
    return { rate: rate, frames: frames };
  }

  var uplinkDefaults = {
    floor: 100000, // bits a second: less gives no video worth sending
    polls: 3, // samples in a row below floor before the video is paused
    first: 20000, // ms: the first wait before video is tried again
    max: 160000, // ms: the longest wait
    steady: 30000 // ms: video that held this long since its last try starts the waits anew
  };

  // uplink returns the rule of one peer connection's camera video. Its
  // sample(at, rate, camera) takes the time in milliseconds, the estimate
  // from read (null: unknown) and whether the person's camera toggle is
  // on, and returns what to do now:
  //   "pause"   take the camera's track off its sender, and say so;
  //   "resume"  put the camera's track back (a try: the notice stays);
  //   "ok"      the try held: the notice goes;
  //   ""        nothing.
  // The numbers of uplinkDefaults may be given in o.
  function uplink(o) {
    var c = {};
    Object.keys(uplinkDefaults).forEach(function (k) { c[k] = o && typeof o[k] === "number" ? o[k] : uplinkDefaults[k]; });
    var low = 0; // samples in a row below the floor
    var paused = false; // the track is off
    var trying = false; // the track is back, the notice still up
    var wait = 0; // the current pause's wait
    var retryAt = 0;
    var resumedAt = -Infinity;

    return {
      sample: function (at, rate, camera) {
        if (paused) {
          if (at < retryAt || !camera) return "";
          paused = false;
          trying = true;
          resumedAt = at;
          low = 0;
          return "resume";
        }
        // An unknown estimate, or a camera the person switched off
        // (whose black frames need nothing), break a run of low ones.
        var measured = typeof rate === "number" && isFinite(rate);
        low = measured && camera && rate < c.floor ? low + 1 : 0;
        if (low >= c.polls) {
          // Failed again soon after a try: wait twice as long.
          wait = at - resumedAt < c.steady ? Math.min(2 * wait, c.max) : c.first;
          paused = true;
          trying = false;
          retryAt = at + wait;
          low = 0;
          return "pause";
        }
        if (trying && measured && rate >= c.floor) {
          trying = false;
          return "ok";
        }
        return "";
      },
      // paused says whether the camera's track is off now.
      paused: function () { return paused; }
    };
  }

  // frames returns the watch over a page's remote videos. Its sample(at,
  // tracks) takes the time in milliseconds and every live remote video
  // track as { tile, track, frames } (the tile it is shown on, its id, the
  // frames decoded from read), and returns the tiles whose state changed:
  // { stalled: [tile…], cleared: [tile…] }, cleared being those stalled
  // before that show new frames again or have no video left to watch. A
  // tile is stalled when every video track of it that has shown a picture
  // has decoded no new frame for o.stall ms (3000); a track that never
  // showed one (keys not yet agreed, a camera paused from the start)
  // leaves its tile as it is. Tracks no longer given are forgotten.
  function frames(o) {
    var stall = o && typeof o.stall === "number" ? o.stall : 3000;
    var seen = {}; // track id → { frames, since, flowed }
    var stalled = {}; // tile → true

    return {
      sample: function (at, tracks) {
        var now = {};
        var tiles = {}; // tile → { flowing, stuck }
        tracks.forEach(function (t) {
          var s = seen[t.track];
          if (!s) s = { frames: t.frames, since: at, flowed: t.frames > 0 };
          else if (t.frames > s.frames) s = { frames: t.frames, since: at, flowed: true };
          now[t.track] = s;
          var tile = tiles[t.tile] || (tiles[t.tile] = { flowing: false, stuck: false });
          if (!s.flowed) return;
          if (at - s.since >= stall) tile.stuck = true;
          else tile.flowing = true;
        });
        seen = now;
        var changes = { stalled: [], cleared: [] };
        Object.keys(tiles).forEach(function (id) {
          var is = tiles[id].stuck && !tiles[id].flowing;
          if (is && !stalled[id]) changes.stalled.push(id);
          if (stalled[id] && tiles[id].flowing) changes.cleared.push(id);
        });
        Object.keys(stalled).forEach(function (id) { if (!tiles[id]) changes.cleared.push(id); });
        changes.stalled.forEach(function (id) { stalled[id] = true; });
        changes.cleared.forEach(function (id) { delete stalled[id]; });
        return changes;
      }
    };
  }

  window.PortalVideoQuality = { read: read, uplink: uplink, frames: frames };
})();
