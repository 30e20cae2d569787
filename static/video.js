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
    switch (m.type) {
      case "waiting":
        retryUntil = 0;
        say("waiting");
        show("call-waiting", "waiting-heading");
        break;
      case "admitted":
      case "joined":
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
        onRelay(m.from, m.data);
        break;
      case "lobby":
        lobby(m.waiting || []);
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
    // A new connection: the others learn our key again, and a host makes
    // a new room key.
    theirs = {}; greeted = {}; given = {}; known = []; room = null;
    pc = new RTCPeerConnection(scriptTransform ? { iceServers: iceServers } : { iceServers: iceServers, encodedInsertableStreams: true });
    pc.onicecandidate = function (e) { if (e.candidate) send({ type: "candidate", candidate: e.candidate.toJSON() }); };
    pc.ontrack = function (e) { protect(e.receiver, "recv", e.track.kind); tile(e.streams[0], e.track); };
    pc.oniceconnectionstatechange = function () {
      if (pc && pc.iceConnectionState === "failed") send({ type: "restart" });
    };
  }

  function closePeer() {
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
        local.getTracks().forEach(function (t) { protect(pc.addTrack(t, local), "send", t.kind); });
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
      li.appendChild(video);
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

  // label names each video after its sender (the peers message).
  function label() {
    Object.keys(tiles).forEach(function (id) {
      var p = peers.filter(function (x) { return x.streamId === id; })[0];
      var li = tiles[id];
      var name = p ? p.name + " (" + (texts["role_" + p.role] || p.role) + ")" : "";
      li.querySelector(".call__name").textContent = name;
      li.querySelector("video").setAttribute("aria-label", (texts.video_of || "") + " " + name);
    });
  }

  // --- End-to-end encryption: the keys. ---
  //
  // Every participant has an ECDH P-256 key pair and sends its public key
  // to each other participant (relay messages, which the server passes on
  // without reading). The host, the first staff member in the call, makes
  // the room key (AES-256-GCM) and sends it to each participant wrapped
  // with a key derived from their two key pairs (ECDH, then HKDF-SHA-256);
  // when someone leaves it makes a new one, so they cannot read what
  // follows. Everyone shows a code derived from the room key: the same
  // code on both sides means nobody in between holds another key.

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

  var ecdh = crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  var ownPublic = ecdh.then(function (k) { return crypto.subtle.exportKey("raw", k.publicKey); });
  var theirs = {}; // peer id → their public key (CryptoKey)
  var greeted = {}; // peer id → our public key was sent
  var room = null; // { epoch, raw } of the key frames are sent under
  var given = {}; // peer id → the epoch of the room key they were given
  var known = []; // the peer ids of the last peers message
  var utf8 = new TextEncoder();

  function b64(buf) { return btoa(String.fromCharCode.apply(null, new Uint8Array(buf))); }
  function unb64(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function relay(to, data) { send({ type: "relay", to: to, data: data }); }

  function host() {
    var h = peers.filter(function (p) { return p.role === "staff"; })[0];
    return h ? h.id : "";
  }

  // wrapKey derives the key that wraps room keys between us and peer id.
  function wrapKey(id) {
    return ecdh.then(function (k) {
      return crypto.subtle.deriveBits({ name: "ECDH", public: theirs[id] }, k.privateKey, 256);
    }).then(function (bits) {
      return crypto.subtle.importKey("raw", bits, "HKDF", false, ["deriveKey"]);
    }).then(function (hk) {
      return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode("portal-video-room-key") },
        hk, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    });
  }

  function keysForPeers() {
    var ids = peers.map(function (p) { return p.id; }).filter(function (id) { return id !== self; });
    var gone = known.filter(function (id) { return ids.indexOf(id) < 0; });
    known = ids;
    gone.forEach(function (id) { delete theirs[id]; delete greeted[id]; delete given[id]; });
    ownPublic.then(function (raw) {
      ids.forEach(function (id) {
        if (!greeted[id]) { greeted[id] = true; relay(id, { k: "pub", key: b64(raw) }); }
      });
    });
    if (host() === self) {
      if (!room || gone.length) newRoomKey(gone.length > 0);
      else ids.forEach(give);
    }
  }

  function newRoomKey(later) {
    var raw = crypto.getRandomValues(new Uint8Array(32));
    var epoch = room ? room.epoch % 255 + 1 : 1;
    room = { epoch: epoch, raw: raw };
    given = {};
    // After someone left the others get the new key first; the host
    // changes over a second later, so nobody misses frames meanwhile.
    setKey(epoch, raw, !later);
    if (later) setTimeout(function () { if (room && room.epoch === epoch) worker.postMessage({ op: "use", epoch: epoch }); }, 1000);
    known.forEach(give);
  }

  function give(id) {
    if (!room || !theirs[id] || given[id] === room.epoch) return;
    var r = room;
    given[id] = r.epoch;
    var iv = crypto.getRandomValues(new Uint8Array(12));
    wrapKey(id).then(function (k) {
      return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: utf8.encode(r.epoch + "|" + self + "|" + id) }, k, r.raw);
    }).then(function (ct) {
      relay(id, { k: "room", epoch: r.epoch, iv: b64(iv), key: b64(ct) });
    });
  }

  function onRelay(from, data) {
    if (!data || !from) return;
    if (data.k === "pub" && typeof data.key === "string") {
      crypto.subtle.importKey("raw", unb64(data.key), { name: "ECDH", namedCurve: "P-256" }, false, []).then(function (k) {
        theirs[from] = k;
        ownPublic.then(function (raw) {
          if (!greeted[from]) { greeted[from] = true; relay(from, { k: "pub", key: b64(raw) }); }
        });
        if (host() === self) give(from);
      }, function () {});
    } else if (data.k === "room" && from === host() && theirs[from]) {
      var epoch = data.epoch;
      wrapKey(from).then(function (k) {
        return crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(data.iv), additionalData: utf8.encode(epoch + "|" + from + "|" + self) }, k, unb64(data.key));
      }).then(function (raw) {
        room = { epoch: epoch, raw: new Uint8Array(raw) };
        setKey(epoch, room.raw, true);
      }, function () {});
    }
  }

  function setKey(epoch, raw, use) {
    worker.postMessage({ op: "key", epoch: epoch, raw: raw.buffer.slice(0), use: use });
    crypto.subtle.digest("SHA-256", raw).then(function (h) {
      var b = new Uint8Array(h);
      var n = ((b[0] << 16) | (b[1] << 8) | b[2]) % 1000000;
      var code = ("00000" + n).slice(-6);
      $("call-code-value").textContent = code.slice(0, 3) + " " + code.slice(3);
      $("call-code").hidden = false;
    });
  }

  // --- Controls. ---

  function toggle(button, kind, onKey, offKey) {
    var tracks = kind === "audio" ? local.getAudioTracks() : local.getVideoTracks();
    var off = button.getAttribute("aria-pressed") !== "true";
    tracks.forEach(function (t) { t.enabled = !off; });
    button.setAttribute("aria-pressed", off ? "true" : "false");
    button.textContent = texts[off ? onKey : offKey];
  }
  $("call-mute").addEventListener("click", function () { toggle(this, "audio", "unmute", "mute"); });
  $("call-camera").addEventListener("click", function () { toggle(this, "video", "camera_on", "camera_off"); });
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
        button.textContent = texts.unshare;
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
    $("call-share").textContent = texts.share;
  }

  // --- The waiting room, for staff. ---

  var seenWaiting = {};
  function lobby(list) {
    var ul = $("call-lobby-list");
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
        b.addEventListener("click", function () { send({ type: a[0], id: w.id }); });
        li.appendChild(b);
      });
      ul.appendChild(li);
    });
    seenWaiting = {};
    list.forEach(function (w) { seenWaiting[w.id] = true; });
    if (arrived) say("arrived");
  }
  if (staff) {
    $("call-end").addEventListener("click", function () { send({ type: "end" }); });
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
