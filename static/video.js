// The video consultation in the browser: the tech check (camera and
// microphone preview, level meter, device choice), the waiting room, and
// the call over the portal's SFU. The page holds every text and every
// element; this script only shows, hides and fills them. The signalling
// protocol is in docs/video.md: the server always offers, the browser
// answers; a link holder says hello with the landing page's ticket.
(function () {
  "use strict";

  var app = document.getElementById("video-app");
  if (!app) return;
  var staff = app.getAttribute("data-role") === "staff";
  var texts = {};
  Array.prototype.forEach.call(document.querySelectorAll("#call-texts [data-key]"), function (li) {
    texts[li.getAttribute("data-key")] = li.textContent;
  });
  function $(id) { return document.getElementById(id); }
  function say(key) { $("call-status").textContent = texts[key] || ""; }

  app.hidden = false;
  // Media is encrypted end to end in a worker (video-e2ee.js), through
  // RTCRtpScriptTransform or Chromium's createEncodedStreams: a browser
  // with neither cannot take part, and is told so before it joins.
  var scriptTransform = "RTCRtpScriptTransform" in window;
  var encodedStreams = window.RTCRtpSender && "createEncodedStreams" in RTCRtpSender.prototype;
  if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.WebSocket ||
      !window.Worker || !window.crypto || !crypto.subtle || !(scriptTransform || encodedStreams)) {
    $("call-unsupported").hidden = false;
    return;
  }

  var steps = ["call-check", "call-waiting", "call-room", "call-after"];
  function show(step, focus) {
    steps.forEach(function (id) { var el = $(id); if (el) el.hidden = id !== step; });
    if (staff) {
      $("call-lobby").hidden = step !== "call-room";
      $("call-end-row").hidden = step !== "call-room";
    }
    var heading = focus && $(focus);
    if (heading) heading.focus();
  }

  // --- Devices: the tech check and the call use the same stream. ---

  var local = null; // the MediaStream of camera and microphone
  var meterStop = null;

  function constraints() {
    var cam = $("device-camera").value, mic = $("device-microphone").value;
    return {
      audio: mic ? { deviceId: { exact: mic } } : true,
      video: cam ? { deviceId: { exact: cam }, width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 1280 }, height: { ideal: 720 } }
    };
  }

  function openDevices() {
    if (local) local.getTracks().forEach(function (t) { t.stop(); });
    return navigator.mediaDevices.getUserMedia(constraints()).then(function (stream) {
      local = stream;
      $("check-preview").srcObject = stream;
      $("check-denied").hidden = true;
      $("check-retry").hidden = true;
      $("check-verdict").hidden = false;
      $("check-go").disabled = false;
      meter(stream);
      return listDevices();
    }, function () {
      $("check-denied").hidden = false;
      $("check-retry").hidden = false;
      $("check-verdict").hidden = true;
      $("check-go").disabled = true;
    });
  }

  function listDevices() {
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      fill($("device-camera"), devices, "videoinput", local && local.getVideoTracks()[0]);
      fill($("device-microphone"), devices, "audioinput", local && local.getAudioTracks()[0]);
      var cams = devices.filter(function (d) { return d.kind === "videoinput"; });
      $("call-switch").hidden = cams.length < 2;
    });
  }

  function fill(select, devices, kind, track) {
    var current = track && track.getSettings ? track.getSettings().deviceId : "";
    select.textContent = "";
    devices.filter(function (d) { return d.kind === kind; }).forEach(function (d, i) {
      var o = document.createElement("option");
      o.value = d.deviceId;
      // Without permission browsers hide device names: number them after
      // the field's own (localized) label.
      o.textContent = d.label || ((select.labels && select.labels[0] ? select.labels[0].textContent : "") + " " + (i + 1));
      o.selected = d.deviceId === current;
      select.appendChild(o);
    });
  }

  // The level meter: the microphone's loudness, so a person sees that
  // it hears them.
  function meter(stream) {
    if (meterStop) meterStop();
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || !stream.getAudioTracks().length) return;
    var ctx = new Ctx();
    var analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(analyser);
    var data = new Uint8Array(analyser.fftSize);
    var running = true;
    (function tick() {
      if (!running) return;
      analyser.getByteTimeDomainData(data);
      var peak = 0;
      for (var i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i] - 128));
      $("check-level").value = Math.min(100, Math.round(peak / 128 * 200));
      setTimeout(tick, 100);
    })();
    meterStop = function () { running = false; ctx.close(); };
  }

  $("device-camera").addEventListener("change", openDevices);
  $("device-microphone").addEventListener("change", openDevices);
  $("check-retry").addEventListener("click", openDevices);
  show("call-check");
  $("check-go").disabled = true;
  openDevices();

  // --- The socket and the call. ---

  var ws = null, pc = null, self = "", peers = [], left = false, retryUntil = 0;
  // The waiting room's connection test (video-net.js), for link holders.
  var net = !staff && window.PortalVideoNet ? window.PortalVideoNet({ send: send, texts: texts }) : null;
  var tiles = {}; // stream id → list item with the video

  $("check-go").addEventListener("click", function () {
    if (meterStop) meterStop();
    $("call-self").srcObject = local;
    connect();
  });

  function connect() {
    say("connecting");
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + app.getAttribute("data-socket");
    ws = new WebSocket(url);
    ws.onopen = function () {
      if (!staff) send({ type: "hello", ticket: app.getAttribute("data-ticket") });
    };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      onMessage(m);
    };
    ws.onclose = function () {
      closePeer();
      if (net) net.stop();
      if (left) return;
      // A dropped network: try again for a minute; someone who was let in
      // comes back without being admitted again.
      if (!retryUntil) retryUntil = Date.now() + 60000;
      if (Date.now() < retryUntil) {
        say("reconnecting");
        setTimeout(connect, 2000);
      } else {
        finish("failed");
      }
    };
  }

  function send(m) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); }

  function onMessage(m) {
    if (m.echo) {
      if (net) net.message(m);
      return;
    }
    switch (m.type) {
      case "waiting":
        // A waiting that overtook its admission on the way is stale.
        if (pc) break;
        retryUntil = 0;
        say("waiting");
        show("call-waiting", "waiting-heading");
        if (net) net.waiting(m.iceServers);
        break;
      case "admitted":
      case "joined":
        if (net) net.stop();
        retryUntil = 0;
        self = m.self;
        newPeer(m.iceServers || []);
        say("connected");
        show("call-room", "room-heading");
        break;
      case "peers":
        peers = m.peers || [];
        label();
        keysForPeers();
        break;
      case "offer":
        answer(m.sdp);
        break;
      case "candidate":
        if (pc && m.candidate) pc.addIceCandidate(m.candidate).catch(function () {});
        break;
      case "relay":
        if (m.data && m.data.k === "chat") chatIn(m.from, m.data);
        else keys.relay(m.from, m.data);
        break;
      case "lobby":
        lobby(m.waiting || []);
        break;
      case "quality":
        // The server stopped, or started again, forwarding video to this
        // browser, whose downlink is too weak for it; audio goes on.
        if (m.video === "paused") {
          notice("call-quality-down", "down_paused");
        } else if (m.video === "on" && !$("call-quality-down").hidden) {
          notice("call-quality-down", "");
          say("down_on");
        }
        break;
      case "denied": finish("denied"); break;
      case "ended": finish("ended"); break;
      case "replaced": finish("replaced"); break;
      case "error":
        if (m.code === "full" || m.code === "closed") finish(m.code);
        break;
    }
  }

  function newPeer(iceServers) {
    closePeer();
    attached = false;
    // A new connection: new keys with everyone, and a host makes a new
    // room key.
    keys.reset();
    pc = new RTCPeerConnection(scriptTransform ? { iceServers: iceServers } : { iceServers: iceServers, encodedInsertableStreams: true });
    pc.onicecandidate = function (e) { if (e.candidate) send({ type: "candidate", candidate: e.candidate.toJSON() }); };
    pc.ontrack = function (e) { protect(e.receiver, "recv", e.track.kind); tile(e.streams[0], e.track); };
    pc.oniceconnectionstatechange = function () {
      if (pc && pc.iceConnectionState === "failed") send({ type: "restart" });
    };
    watchQuality();
  }

  function closePeer() {
    stopQuality();
    if (pc) pc.close();
    pc = null;
    Object.keys(tiles).forEach(function (id) { tiles[id].remove(); });
    tiles = {};
  }

  var attached = false;
  function answer(sdp) {
    if (!pc) return;
    pc.setRemoteDescription({ type: "offer", sdp: sdp }).then(function () {
      // The first offer has one receiving slot per kind: the camera and
      // the microphone go there.
      if (!attached) {
        attached = true;
        local.getTracks().forEach(function (t) {
          var sender = pc.addTrack(t, local);
          protect(sender, "send", t.kind);
          if (t.kind === "video") camSender = sender;
        });
      }
      if (sharing && !sharingSent) attachShare();
      vp8Only();
      return pc.createAnswer();
    }).then(function (a) {
      return pc.setLocalDescription(a);
    }).then(function () {
      send({ type: "answer", sdp: pc.localDescription.sdp });
    }).catch(function () { send({ type: "restart" }); });
  }

  // vp8Only keeps video to VP8: the encryption leaves VP8's first bytes in
  // clear, which is all its packetizer reads; H.264's packetizer reads the
  // whole frame, which it would find encrypted.
  function vp8Only() {
    if (!window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities || !("setCodecPreferences" in RTCRtpTransceiver.prototype)) return;
    var vp8 = RTCRtpReceiver.getCapabilities("video").codecs.filter(function (c) { return c.mimeType.toLowerCase() === "video/vp8"; });
    if (!vp8.length) return;
    pc.getTransceivers().forEach(function (t) {
      if (t.receiver.track && t.receiver.track.kind === "video" && !t.stopped && t.currentDirection !== "stopped") {
        try { t.setCodecPreferences(vp8); } catch (e) { /* a slot the offer left inactive */ }
      }
    });
  }

  function tile(stream, track) {
    if (!stream) return;
    var li = tiles[stream.id];
    if (!li) {
      li = document.createElement("li");
      li.className = "call__tile";
      var video = document.createElement("video");
      video.className = "call__video";
      video.autoplay = true;
      video.playsInline = true;
      video.srcObject = stream;
      var name = document.createElement("p");
      name.className = "call__name";
      // Shown over the still picture when its frames stop (measure).
      var paused = document.createElement("p");
      paused.className = "call__paused";
      paused.hidden = true;
      var what = document.createElement("strong");
      what.textContent = texts.tile_paused || "";
      var why = document.createElement("span");
      why.className = "call__paused-detail";
      why.textContent = texts.tile_weak || "";
      paused.append(what, " ", why);
      li.appendChild(video);
      li.appendChild(paused);
      li.appendChild(name);
      $("call-videos").appendChild(li);
      tiles[stream.id] = li;
      stream.addEventListener("removetrack", function () {
        if (!stream.getTracks().some(function (t) { return t.readyState === "live"; })) {
          li.remove();
          delete tiles[stream.id];
        }
      });
    }
    label();
  }

  function peerLabel(p) { return p.name + " (" + (texts["role_" + p.role] || p.role) + ")"; }

  // label names each video after its sender (the peers message).
  function label() {
    Object.keys(tiles).forEach(function (id) {
      var p = peers.filter(function (x) { return x.streamId === id; })[0];
      var li = tiles[id];
      var name = p ? peerLabel(p) : "";
      li.querySelector(".call__name").textContent = name;
      li.querySelector("video").setAttribute("aria-label", (texts.video_of || "") + " " + name);
    });
  }

  // --- Weak connections: video-quality.js decides, this only acts. ---
  //
  // Every 2 seconds of a call the page reads the connection's stats. An
  // uplink too poor for video pauses the camera: its track comes off the
  // sender (the transceiver stays, so nothing is renegotiated) and is put
  // back for a try later, only while the camera toggle is on; a shared
  // screen has a sender of its own and is left alone. A remote video
  // whose frames stopped says so on its tile, and is not announced.

  var camSender = null, uplink = null, stalls = null, polling = 0;

  function watchQuality() {
    stopQuality();
    uplink = window.PortalVideoQuality.uplink();
    stalls = window.PortalVideoQuality.frames();
    polling = setInterval(measure, 2000);
  }

  function stopQuality() {
    clearInterval(polling);
    polling = 0;
    camSender = null;
    notice("call-quality-up", "");
    notice("call-quality-down", "");
  }

  // notice shows one of the call's notices with the text of key, or hides
  // it (""). They stand in a status region, which announces one when it
  // appears, and not again while it stays.
  function notice(id, key) {
    var el = $(id);
    if (key && !el.hidden && el.textContent === texts[key]) return;
    el.textContent = key ? texts[key] || "" : "";
    el.hidden = !key;
  }

  function cameraOn() {
    return !!camSender && local.getVideoTracks().length > 0 && $("call-camera").getAttribute("aria-pressed") !== "true";
  }

  function measure() {
    var p = pc;
    if (!p) return;
    p.getStats().then(function (stats) {
      if (p !== pc) return;
      var now = performance.now();
      var s = window.PortalVideoQuality.read(stats);
      var sender = camSender;
      switch (uplink.sample(now, s.rate, cameraOn())) {
        case "pause":
          sender.replaceTrack(null).catch(function () {});
          notice("call-quality-up", "up_paused");
          break;
        case "resume":
          // The camera's track now: a switch of cameras meanwhile went to
          // local alone.
          sender.replaceTrack(local.getVideoTracks()[0]).catch(function () {});
          break;
        case "ok":
          notice("call-quality-up", "");
          say("up_on");
          break;
      }
      var tracks = [];
      Object.keys(tiles).forEach(function (id) {
        tiles[id].querySelector("video").srcObject.getVideoTracks().forEach(function (t) {
          if (t.readyState === "live" && t.id in s.frames) tracks.push({ tile: id, track: t.id, frames: s.frames[t.id] });
        });
      });
      var changed = stalls.sample(now, tracks);
      changed.stalled.forEach(function (id) { tiles[id].querySelector(".call__paused").hidden = false; });
      changed.cleared.forEach(function (id) { if (tiles[id]) tiles[id].querySelector(".call__paused").hidden = true; });
    }).catch(function () { /* closed meanwhile */ });
  }

  // --- End-to-end encryption. ---
  //
  // The media worker (video-e2ee.js) encrypts and decrypts the frames
  // with the room key; video-keys.js agrees on it with the others.

  var worker = new Worker(app.getAttribute("data-e2ee"));
  var protectedOnes = new WeakSet();
  function protect(x, side, kind) {
    if (!x || protectedOnes.has(x)) return;
    protectedOnes.add(x);
    if (scriptTransform) {
      x.transform = new RTCRtpScriptTransform(worker, { side: side, kind: kind });
    } else {
      var s = x.createEncodedStreams();
      worker.postMessage({ op: "stream", side: side, kind: kind, readable: s.readable, writable: s.writable }, [s.readable, s.writable]);
    }
  }

  var keys = window.PortalVideoKeys({
    relay: function (to, data) { send({ type: "relay", to: to, data: data }); },
    key: function (epoch, raw, use) { worker.postMessage({ op: "key", epoch: epoch, raw: raw.buffer.slice(0), use: use }); },
    use: function (epoch) { worker.postMessage({ op: "use", epoch: epoch }); },
    codes: showCodes
  });

  function keysForPeers() {
    var h = peers.filter(function (p) { return p.role === "staff"; })[0];
    keys.peers(self, h ? h.id : "", peers.map(function (p) { return p.id; }).filter(function (id) { return id !== self; }));
  }

  // showCodes lists the security code of each pair, under the other
  // person's name, to be compared with them; a code that changed since it
  // was shown says so (and the status line once), and someone the keys
  // gave up on is named with a warning.
  var toldChanged = {};
  function showCodes(codes, blocked) {
    var list = $("call-codes");
    list.textContent = "";
    var announce = false;
    peers.forEach(function (p) {
      var c = codes[p.id];
      var stuck = blocked.indexOf(p.id) >= 0;
      if (!c && !stuck) return;
      var li = document.createElement("li");
      var name = document.createElement("bdi");
      name.textContent = peerLabel(p);
      li.append(name, ": ");
      if (c) {
        var value = document.createElement("strong");
        value.className = "table__ref";
        value.setAttribute("data-peer", p.id);
        value.textContent = c.code;
        li.appendChild(value);
      }
      var warning = stuck ? texts.code_blocked : c.changed ? texts.code_changed : "";
      if (warning) {
        var w = document.createElement("span");
        w.className = "call__code-warning";
        w.textContent = " " + warning;
        li.appendChild(w);
        var seen = p.id + "|" + (c ? c.code : "blocked");
        if (!toldChanged[seen]) { toldChanged[seen] = true; announce = true; }
      }
      list.appendChild(li);
    });
    $("call-code").hidden = !list.firstChild;
    if (announce) say("code_changed");
  }

  // --- Controls. ---

  // The toggles keep their names ("Mikrofon aus"); pressed means what
  // the name says, shown by aria-pressed and the button's look.
  function toggle(button, kind) {
    var tracks = kind === "audio" ? local.getAudioTracks() : local.getVideoTracks();
    var off = button.getAttribute("aria-pressed") !== "true";
    tracks.forEach(function (t) { t.enabled = !off; });
    button.setAttribute("aria-pressed", off ? "true" : "false");
  }
  $("call-mute").addEventListener("click", function () { toggle(this, "audio"); });
  $("call-camera").addEventListener("click", function () { toggle(this, "video"); });
  $("call-switch").addEventListener("click", function () {
    navigator.mediaDevices.enumerateDevices().then(function (devices) {
      var cams = devices.filter(function (d) { return d.kind === "videoinput"; });
      var now = local.getVideoTracks()[0];
      var at = cams.findIndex(function (d) { return now && d.deviceId === now.getSettings().deviceId; });
      var next = cams[(at + 1) % cams.length];
      return navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: next.deviceId } } });
    }).then(function (s) {
      var track = s.getVideoTracks()[0];
      var old = local.getVideoTracks()[0];
      var sender = pc && pc.getSenders().filter(function (x) { return x.track === old; })[0];
      if (sender) sender.replaceTrack(track);
      if (old) { local.removeTrack(old); old.stop(); }
      local.addTrack(track);
    }).catch(function () {});
  });
  $("call-hangup").addEventListener("click", function () { finish("hangup"); });

  // Screen sharing (staff): one more slot is asked for; the next offer
  // brings it, and the screen goes there.
  var sharing = null, sharingSent = false;
  if (staff && navigator.mediaDevices.getDisplayMedia) {
    $("call-share").hidden = false;
    $("call-share").addEventListener("click", function () {
      var button = this;
      if (sharing) { stopShare(); return; }
      navigator.mediaDevices.getDisplayMedia({ video: true }).then(function (s) {
        sharing = s;
        sharingSent = false;
        button.setAttribute("aria-pressed", "true");
        s.getVideoTracks()[0].addEventListener("ended", stopShare);
        send({ type: "publish", kind: "video" });
      }).catch(function () {});
    });
  }
  function attachShare() {
    var free = pc.getTransceivers().filter(function (t) {
      return t.receiver.track.kind === "video" && !t.sender.track && t.direction === "recvonly" && !t.stopped;
    });
    if (!free.length) return;
    var slot = free[free.length - 1];
    protect(slot.sender, "send", "video");
    slot.sender.replaceTrack(sharing.getVideoTracks()[0]);
    slot.direction = "sendonly";
    sharingSent = true;
  }
  function stopShare() {
    if (!sharing) return;
    sharing.getTracks().forEach(function (t) { t.stop(); });
    sharing = null;
    $("call-share").setAttribute("aria-pressed", "false");
  }

  // --- Chat: relay messages to each other participant, encrypted under
  // the room key (video-keys.js), shown here and nowhere kept. ---

  function chatLine(name, text) {
    var li = document.createElement("li");
    var who = document.createElement("bdi");
    who.className = "call__chat-name";
    who.textContent = name;
    var what = document.createElement("bdi");
    what.textContent = text;
    li.append(who, ": ", what);
    $("chat-log").appendChild(li);
  }
  function chatIn(from, data) {
    keys.open(from, data).then(function (text) {
      var p = peers.filter(function (x) { return x.id === from; })[0];
      if (p) chatLine(peerLabel(p), text);
    }, function () { /* not readable: dropped */ });
  }
  $("chat-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("chat-text").value.trim().slice(0, 500);
    if (!text) return;
    keys.seal(text).then(function (sealed) {
      peers.forEach(function (p) { if (p.id !== self) send({ type: "relay", to: p.id, data: sealed }); });
      chatLine(texts.chat_me, text);
      $("chat-text").value = "";
    }, function () { /* no room key yet: the text stays in the field */ });
  });

  // --- The waiting room, for staff. ---

  var seenWaiting = {};
  function lobby(list) {
    var ul = $("call-lobby-list");
    // The list is made anew: a keyboard user's focus on one of its
    // buttons stays on the same action for the same person, or goes to
    // the heading when they are no longer waiting.
    var had = ul.contains(document.activeElement) ? document.activeElement.getAttribute("data-action") : null;
    ul.textContent = "";
    if (!list.length) {
      var li = document.createElement("li");
      li.className = "files__item";
      li.textContent = texts.nobody_waiting;
      ul.appendChild(li);
    }
    var arrived = false;
    list.forEach(function (w) {
      if (!seenWaiting[w.id]) arrived = true;
      var li = document.createElement("li");
      li.className = "files__item";
      var name = document.createElement("strong");
      name.textContent = w.name + (w.guest ? " (" + texts.guest + ")" : "");
      li.appendChild(name);
      [["admit", "button"], ["deny", "button button--secondary"]].forEach(function (a) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = a[1] + " button--small";
        b.textContent = texts[a[0]] + ": " + w.name;
        b.setAttribute("data-action", a[0] + "-" + w.id);
        b.addEventListener("click", function () { send({ type: a[0], id: w.id }); });
        li.appendChild(b);
      });
      ul.appendChild(li);
    });
    if (had) {
      var again = ul.querySelector('[data-action="' + had + '"]');
      if (again) again.focus();
      else focusHeading("lobby-heading");
    }
    seenWaiting = {};
    list.forEach(function (w) { seenWaiting[w.id] = true; });
    if (arrived) say("arrived");
  }
  // Ending for everyone asks once more, in the page.
  if (staff) {
    var asking = function (on) {
      $("call-end-confirm").hidden = !on;
      $("call-end").setAttribute("aria-expanded", on ? "true" : "false");
      if (on) $("call-end-question").focus();
    };
    $("call-end").addEventListener("click", function () { asking(true); });
    $("call-end-no").addEventListener("click", function () { asking(false); $("call-end").focus(); });
    $("call-end-yes").addEventListener("click", function () { asking(false); send({ type: "end" }); });
  }

  function focusHeading(id) {
    var h = $(id);
    if (!h) return;
    if (!h.hasAttribute("tabindex")) h.setAttribute("tabindex", "-1");
    h.focus();
  }

  function finish(reason) {
    left = true;
    if (ws) ws.close();
    closePeer();
    stopShare();
    if (local) local.getTracks().forEach(function (t) { t.stop(); });
    Array.prototype.forEach.call(document.querySelectorAll("#call-after [data-reason]"), function (p) {
      p.hidden = p.getAttribute("data-reason") !== reason;
    });
    say("");
    show("call-after", "after-heading");
  }
})();
