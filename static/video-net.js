// The connection test of the waiting room (video.js starts it). A
// generated test picture (moving noise on a canvas, so that the encoder
// sends what a call sends) and a tone, never the camera or the
// microphone, go to the server's echo and come back over a peer
// connection of their own; the page shows the round-trip time, the
// bitrate and the loss of what came back, and whether the connection
// needed a TURN relay, with a plain verdict. The test's signalling
// messages carry echo: true (docs/video.md).
(function () {
  "use strict";

  // What a call needs: below "weak" video stutters, below "bad" it
  // hardly works.
  var good = { rtt: 0.4, loss: 0.05, rate: 300000 };
  var weak = { rtt: 1.0, loss: 0.15, rate: 100000 };

  // PortalVideoNet runs the test of one page. o.send(message) sends on
  // the call's socket; o.texts are the page's texts by key.
  window.PortalVideoNet = function (o) {
    var pc = null;
    var pattern = null;
    var attached = false;
    var timers = [];
    var passed = false;

    function $(id) { return document.getElementById(id); }
    function lang() { return document.documentElement.lang || "de"; }
    function number(n, digits) { return n.toLocaleString(lang(), { maximumFractionDigits: digits }); }

    function testPattern() {
      var canvas = document.createElement("canvas");
      canvas.width = 640;
      canvas.height = 360;
      var g = canvas.getContext("2d");
      var noise = g.createImageData(160, 90);
      var running = true;
      (function draw() {
        if (!running) return;
        for (var i = 0; i < noise.data.length; i += 4) {
          var v = Math.random() * 255;
          noise.data[i] = noise.data[i + 1] = noise.data[i + 2] = v;
          noise.data[i + 3] = 255;
        }
        g.putImageData(noise, 0, 0);
        g.drawImage(canvas, 0, 0, 160, 90, 0, 0, 640, 360);
        setTimeout(draw, 66);
      })();
      var stream = canvas.captureStream(15);
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var audio = Ctx ? new Ctx() : null;
      if (audio) {
        var tone = audio.createOscillator();
        var out = audio.createMediaStreamDestination();
        tone.connect(out);
        tone.start();
        stream.addTrack(out.stream.getAudioTracks()[0]);
      }
      return {
        stream: stream,
        stop: function () {
          running = false;
          stream.getTracks().forEach(function (t) { t.stop(); });
          if (audio) audio.close();
        }
      };
    }

    function later(f, ms) { timers.push(setTimeout(f, ms)); }

    function stop() {
      timers.forEach(clearTimeout);
      timers = [];
      if (pc) pc.close();
      pc = null;
      if (pattern) pattern.stop();
      pattern = null;
    }

    // sample reads what came back so far and over which way.
    function sample() {
      if (!pc) return Promise.resolve(null);
      return pc.getStats().then(function (stats) {
        var s = { at: performance.now() / 1000, bytes: 0, received: 0, lost: 0, rtt: null, relay: false };
        var pair = null;
        stats.forEach(function (r) {
          if (r.type === "inbound-rtp" && r.kind === "video") {
            s.bytes += r.bytesReceived || 0;
            s.received += r.packetsReceived || 0;
            s.lost += Math.max(0, r.packetsLost || 0);
          }
          if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
        });
        if (!pair) stats.forEach(function (r) { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
        if (pair) {
          s.rtt = typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime : null;
          var local = stats.get(pair.localCandidateId);
          s.relay = !!local && local.candidateType === "relay";
        }
        return s;
      });
    }

    function verdict(a, b) {
      var seconds = Math.max(0.001, b.at - a.at);
      var rate = (b.bytes - a.bytes) * 8 / seconds;
      var packets = (b.received - a.received) + (b.lost - a.lost);
      var loss = packets > 0 ? (b.lost - a.lost) / packets : 1;
      var rtt = b.rtt === null ? 0 : b.rtt;
      var key = "net_bad";
      if (rate >= good.rate && loss <= good.loss && rtt <= good.rtt) key = "net_good";
      else if (rate >= weak.rate && loss <= weak.loss && rtt <= weak.rtt) key = "net_weak";
      show(key);
      $("net-rtt").textContent = b.rtt === null ? "–" : number(rtt * 1000, rtt < 0.01 ? 1 : 0) + " ms";
      $("net-rate").textContent = number(rate / 1e6, 1) + " Mbit/s";
      $("net-loss").textContent = number(loss * 100, 1) + " %";
      $("net-path").textContent = o.texts[b.relay ? "net_relay" : "net_direct"] || "";
      $("net-figures").hidden = false;
      passed = passed || key === "net_good";
    }

    function show(key) {
      $("net-verdict").textContent = o.texts[key] || "";
      $("net-call").hidden = key !== "net_bad" && key !== "net_failed";
      $("net-again").hidden = key === "net_running" || runs >= 3;
      $("net").setAttribute("data-verdict", key);
    }

    function answer(sdp) {
      var p = pc;
      p.setRemoteDescription({ type: "offer", sdp: sdp }).then(function () {
        if (!attached) {
          attached = true;
          pattern.stream.getTracks().forEach(function (t) { p.addTrack(t, pattern.stream); });
        }
        return p.createAnswer();
      }).then(function (a) {
        return p.setLocalDescription(a);
      }).then(function () {
        if (pc === p) o.send({ type: "answer", sdp: p.localDescription.sdp, echo: true });
      }).catch(function () {
        if (pc === p) { stop(); show("net_failed"); }
      });
    }

    var runs = 0;
    function start(iceServers) {
      if (runs >= 3) return; // the server's limit per connection
      runs++;
      stop();
      attached = false;
      $("net").hidden = false;
      $("net-figures").hidden = true;
      show("net_running");
      pattern = testPattern();
      pc = new RTCPeerConnection({ iceServers: iceServers || [] });
      var p = pc;
      p.onicecandidate = function (e) { if (e.candidate) o.send({ type: "candidate", candidate: e.candidate.toJSON(), echo: true }); };
      var first = null;
      p.onconnectionstatechange = function () {
        if (pc !== p || p.connectionState !== "connected" || first) return;
        // Bandwidth estimation needs a moment to rise: measure from the
        // third second to the tenth.
        later(function () { sample().then(function (s) { first = s; }); }, 3000);
        later(function () {
          sample().then(function (s) {
            if (pc !== p || !first || !s) return;
            verdict(first, s);
            stop();
          });
        }, 10000);
      };
      later(function () {
        if (pc === p && p.connectionState !== "connected") { stop(); show("net_failed"); }
      }, 10000);
      o.send({ type: "echo" });
    }

    $("net-again").addEventListener("click", function () { start(lastServers); });
    var lastServers = [];

    return {
      // waiting starts the test the first time someone waits, and after
      // a reconnect until it passed once.
      waiting: function (iceServers) {
        lastServers = iceServers || [];
        if (!passed && !pc) start(lastServers);
      },
      // message takes a signalling message of the test.
      message: function (m) {
        if (!pc) return;
        if (m.type === "offer") answer(m.sdp);
        else if (m.type === "candidate" && m.candidate) pc.addIceCandidate(m.candidate).catch(function () {});
        else if (m.type === "echo_end" && $("net").getAttribute("data-verdict") === "net_running") { stop(); show("net_failed"); }
      },
      // stop ends the test: let in, or gone.
      stop: function () {
        stop();
        if ($("net").getAttribute("data-verdict") === "net_running") $("net").hidden = true;
      }
    };
  };
})();
