// The end-to-end encryption of a video call's media, in a worker: every
// encoded frame a browser sends is encrypted with the room's key
// (AES-GCM) before it leaves, and every frame it receives is decrypted
// before it is decoded, so the server forwards what it cannot read.
//
// A frame on the wire is: the codec's first bytes in clear (VP8: 10 of a
// keyframe, 3 of another frame; Opus: 1), so the receiver's packetizer and
// jitter buffer still see what kind of frame it is; then the rest,
// encrypted, with the clear bytes as additional data; then the 12-byte IV
// and one byte naming the key (its epoch). Keys come from video.js; a
// frame to send before there is a key, or one received under a key this
// browser does not hold, is dropped, never passed on in clear.
"use strict";

var keys = {}; // epoch → CryptoKey
var current = 0; // the epoch frames are sent under; 0: none yet
var salt = crypto.getRandomValues(new Uint8Array(4));
var counter = 0;

onmessage = function (e) {
  var m = e.data;
  if (m.op === "key") {
    crypto.subtle.importKey("raw", m.raw, "AES-GCM", false, ["encrypt", "decrypt"]).then(function (k) {
      keys[m.epoch] = k;
      // Keep the two newest: frames sent under the one before still
      // arrive while everyone changes over.
      Object.keys(keys).map(Number).sort(function (a, b) { return b - a; }).slice(2).forEach(function (old) { delete keys[old]; });
      if (m.use) current = m.epoch;
    });
  } else if (m.op === "use") {
    current = m.epoch;
  } else if (m.op === "stream") {
    pipe(m.readable, m.writable, m.side, m.kind);
  }
};

// RTCRtpScriptTransform (Safari, Firefox, newer Chromium) hands the
// streams here; Chromium's createEncodedStreams posts them (op "stream").
if (self.RTCTransformEvent || "onrtctransform" in self) {
  self.onrtctransform = function (e) {
    var o = e.transformer.options;
    pipe(e.transformer.readable, e.transformer.writable, o.side, o.kind);
  };
}

function pipe(readable, writable, side, kind) {
  var transform = new TransformStream({
    transform: side === "send" ? function (frame, ctl) { return encrypt(frame, ctl, kind); } : function (frame, ctl) { return decrypt(frame, ctl, kind); }
  });
  readable.pipeThrough(transform).pipeTo(writable);
}

function clearBytes(frame, kind) {
  if (kind === "audio") return 1;
  return frame.type === "key" ? 10 : 3;
}

function encrypt(frame, ctl, kind) {
  var key = keys[current];
  if (!key) return; // no key yet: nothing leaves in clear
  var data = new Uint8Array(frame.data);
  var n = Math.min(clearBytes(frame, kind), data.length);
  var iv = new Uint8Array(12);
  iv.set(salt, 0);
  counter++;
  new DataView(iv.buffer).setUint32(8, counter);
  new DataView(iv.buffer).setUint32(4, Math.floor(counter / 4294967296));
  var epoch = current;
  return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: data.subarray(0, n) }, key, data.subarray(n)).then(function (ct) {
    var out = new Uint8Array(n + ct.byteLength + 13);
    out.set(data.subarray(0, n), 0);
    out.set(new Uint8Array(ct), n);
    out.set(iv, n + ct.byteLength);
    out[out.length - 1] = epoch;
    frame.data = out.buffer;
    ctl.enqueue(frame);
  });
}

function decrypt(frame, ctl, kind) {
  var data = new Uint8Array(frame.data);
  var n = clearBytes(frame, kind);
  if (data.length < n + 16 + 13) return;
  var key = keys[data[data.length - 1]];
  if (!key) return;
  var iv = data.subarray(data.length - 13, data.length - 1);
  return crypto.subtle.decrypt({ name: "AES-GCM", iv: iv, additionalData: data.subarray(0, n) }, key, data.subarray(n, data.length - 13)).then(function (plain) {
    var out = new Uint8Array(n + plain.byteLength);
    out.set(data.subarray(0, n), 0);
    out.set(new Uint8Array(plain), n);
    frame.data = out.buffer;
    ctl.enqueue(frame);
  }, function () { /* not ours, or changed on the way: dropped */ });
}
