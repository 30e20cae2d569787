// The keys of a video call's end-to-end encryption (video.js uses them).
//
// Every pair of participants agrees on keys of its own over relay
// messages, which the server passes on without reading. Each side makes a
// fresh ECDH P-256 key pair for the pair; the side whose peer id sorts
// first commits to its public key (sends its SHA-256) before it sees the
// other's; the other side answers with its public key; the first then
// reveals its own, which the other checks against the commitment. Both
// show the pair's security code, a hash of the two public keys. A server
// that put keys of its own in between would have to choose each of them
// before it learns the key whose code it must match, so the codes the two
// people read to each other differ (but for a chance of one in a million
// a round). Each round of a pair carries a random round id, so that
// messages of an earlier round (a reconnect, a second tab) are never mixed
// in; a pair gets a few rounds a connection, and a code that changed after
// it was shown is marked so. Only the participants the page lists take
// part, and a room key is taken only when newer than the one held.
//
// The host, the first staff member in the call, makes the room key
// (AES-256-GCM) the media is encrypted with, and sends it to each
// participant wrapped with the pair's key (ECDH, then HKDF-SHA-256); when
// someone leaves it makes a new one, so they cannot read what follows.
//
// Messages (the data of relay messages):
//   { k: "ask" }                          I have no keys with you: commit, please
//   { k: "commit", n: round, hash: b64 }  SHA-256 of my public key of round n
//   { k: "pub", n: round, key: b64 }      my public key of round n (raw, uncompressed)
//   { k: "room", n, epoch, iv, key }      the room key of epoch, AES-GCM-wrapped with the
//                                         pair's key, additional data "<epoch>|<from>|<to>|<n>"
//   { k: "chat", epoch, iv, ct }          a chat message, AES-GCM under the room key of epoch,
//                                         additional data "chat|<epoch>|<from>"
(function () {
  "use strict";

  var utf8 = new TextEncoder();
  var curve = { name: "ECDH", namedCurve: "P-256" };

  function b64(buf) { return btoa(String.fromCharCode.apply(null, new Uint8Array(buf))); }
  function unb64(s) {
    try {
      return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
    } catch (e) {
      return null;
    }
  }
  function sha256(bytes) { return crypto.subtle.digest("SHA-256", bytes).then(function (h) { return new Uint8Array(h); }); }
  function less(a, b) {
    for (var i = 0; i < a.length && i < b.length; i++) {
      if (a[i] !== b[i]) return a[i] < b[i];
    }
    return a.length < b.length;
  }

  // code is a pair's six-digit security code: SHA-256 of
  // "portal-video-code" and the two public keys in byte order, the first
  // three bytes modulo a million. Both sides compute the same.
  function code(a, b) {
    if (less(b, a)) { var t = a; a = b; b = t; }
    var label = utf8.encode("portal-video-code");
    var buf = new Uint8Array(label.length + a.length + b.length);
    buf.set(label);
    buf.set(a, label.length);
    buf.set(b, label.length + a.length);
    return sha256(buf).then(function (h) {
      var s = ("00000" + (((h[0] << 16) | (h[1] << 8) | h[2]) % 1000000)).slice(-6);
      return s.slice(0, 3) + " " + s.slice(3);
    });
  }

  // PortalVideoKeys runs the key exchange of one connection to a call.
  // o.relay(to, data) sends a relay message; o.key(epoch, raw, use) hands
  // the media worker a room key (use: encrypt with it at once);
  // o.use(epoch) switches the encryption to a key handed before;
  // o.codes(codes) shows the security codes, an object peer id → code.
  var maxRounds = 5;

  window.PortalVideoKeys = function (o) {
    var self = "";
    var host = "";
    var others = [];
    var pairs = {}; // peer id → this round's keys with them
    var codes = {}; // peer id → the security code of the pair's round
    var rounds = {}; // peer id → rounds agreed with them on this connection
    var changed = {}; // peer id → their code changed after it was shown
    var room = null; // { epoch, raw }: the key media is sent under
    var given = {}; // peer id → the epoch of the room key they were given
    var epochs = {}; // epoch → room key (raw), the last few, for chat messages in flight

    function first(id) { return self < id; }
    function listed(id) { return others.indexOf(id) >= 0; }
    // open reports whether another round with id may start: a handful a
    // connection covers their reloads and second tabs; a server that
    // keeps starting rounds to find keys whose code matches the one
    // shown gets no further than that.
    function open(id) { return listed(id) && (rounds[id] || 0) < maxRounds; }
    function show() {
      var out = {};
      Object.keys(codes).forEach(function (id) { out[id] = { code: codes[id], changed: !!changed[id] }; });
      o.codes(out, Object.keys(rounds).filter(function (id) { return rounds[id] >= maxRounds && !codes[id]; }));
    }

    // fresh starts round n of the pair with id: a new key pair, nothing
    // of the other side's yet.
    function fresh(id, n) {
      var kp = crypto.subtle.generateKey(curve, false, ["deriveBits"]);
      var p = { n: n, kp: kp, own: kp.then(function (k) { return crypto.subtle.exportKey("raw", k.publicKey); }).then(function (b) { return new Uint8Array(b); }) };
      p.ready = new Promise(function (resolve) { p.resolve = resolve; });
      pairs[id] = p;
      delete given[id];
      delete codes[id];
      return p;
    }
    function current(id, p) { return pairs[id] === p; }

    function commit(id) {
      if (!open(id)) { show(); return; }
      var p = fresh(id, b64(crypto.getRandomValues(new Uint8Array(12))));
      p.committed = true;
      p.own.then(sha256).then(function (h) {
        if (current(id, p)) o.relay(id, { k: "commit", n: p.n, hash: b64(h) });
      });
      show();
    }

    function reveal(id, p) {
      p.own.then(function (raw) {
        if (current(id, p)) o.relay(id, { k: "pub", n: p.n, key: b64(raw) });
      });
    }

    // establish takes their public key of the round: the pair's wrapping
    // key, its code, and for the host the room key for them.
    function establish(id, p, theirs) {
      p.theirs = theirs;
      Promise.all([p.kp, crypto.subtle.importKey("raw", theirs, curve, false, [])]).then(function (k) {
        return crypto.subtle.deriveBits({ name: "ECDH", public: k[1] }, k[0].privateKey, 256);
      }).then(function (bits) {
        return crypto.subtle.importKey("raw", bits, "HKDF", false, ["deriveKey"]);
      }).then(function (hk) {
        return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode("portal-video-room-key") },
          hk, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      }).then(function (wrap) {
        if (!current(id, p)) return;
        p.resolve(wrap);
        return p.own.then(function (mine) { return code(mine, theirs); }).then(function (c) {
          if (!current(id, p)) return;
          rounds[id] = (rounds[id] || 0) + 1;
          if (rounds[id] > 1) changed[id] = true;
          codes[id] = c;
          show();
          if (self === host) give(id);
        });
      }, function () { /* not a P-256 point: the round stays without keys */ });
    }

    function give(id) {
      var p = pairs[id];
      if (!room || !p || !listed(id) || given[id] === room.epoch) return;
      var r = room;
      given[id] = r.epoch;
      p.ready.then(function (wrap) {
        var iv = crypto.getRandomValues(new Uint8Array(12));
        return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: aad(r.epoch, self, id, p.n) }, wrap, r.raw).then(function (ct) {
          if (current(id, p)) o.relay(id, { k: "room", n: p.n, epoch: r.epoch, iv: b64(iv), key: b64(ct) });
        });
      });
    }

    function remember(epoch, raw) {
      epochs[epoch] = raw;
      Object.keys(epochs).forEach(function (e) {
        if ((epoch - Number(e) + 256) % 256 > 3) delete epochs[e];
      });
    }
    function chatAAD(epoch, from) { return utf8.encode("chat|" + epoch + "|" + from); }
    function aesKey(raw, use) { return crypto.subtle.importKey("raw", raw, "AES-GCM", false, [use]); }

    // newer reports whether epoch a follows b (epochs count 1 to 255
    // and round).
    function newer(a, b) { var d = (a - b + 255) % 255; return d >= 1 && d <= 127; }

    function aad(epoch, from, to, n) { return utf8.encode(epoch + "|" + from + "|" + to + "|" + n); }

    function newRoomKey(later) {
      var raw = crypto.getRandomValues(new Uint8Array(32));
      var epoch = room ? room.epoch % 255 + 1 : 1;
      room = { epoch: epoch, raw: raw, host: self };
      given = {};
      // After someone left the others get the new key first; the host
      // changes over a second later, so nobody misses frames meanwhile.
      remember(epoch, raw);
      o.key(epoch, raw, !later);
      if (later) setTimeout(function () { if (room && room.epoch === epoch) o.use(epoch); }, 1000);
      others.forEach(give);
    }

    return {
      // reset forgets every key: a new connection to the call.
      reset: function () {
        self = ""; host = ""; others = []; pairs = {}; codes = {}; rounds = {}; changed = {}; room = null; given = {}; epochs = {};
        show();
      },

      // peers takes who is in the call: one's own id, the host's and the
      // others'.
      peers: function (me, hostID, ids) {
        self = me;
        host = hostID;
        var gone = others.filter(function (id) { return ids.indexOf(id) < 0; });
        others = ids.slice();
        gone.forEach(function (id) { delete pairs[id]; delete given[id]; delete codes[id]; });
        ids.forEach(function (id) {
          if (pairs[id]) return;
          if (first(id)) {
            commit(id);
          } else {
            o.relay(id, { k: "ask" });
          }
        });
        if (self === host) {
          if (!room || gone.length) newRoomKey(gone.length > 0);
          else ids.forEach(give);
        } else if (room && room.host !== host) {
          room = null;
        }
        show();
      },

      // seal encrypts a chat message of one's own under the room key:
      // the data of the relay messages that carry it to the others.
      seal: function (text) {
        if (!room) return Promise.reject(new Error("no room key yet"));
        var r = room;
        var iv = crypto.getRandomValues(new Uint8Array(12));
        return aesKey(r.raw, "encrypt").then(function (k) {
          return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: chatAAD(r.epoch, self) }, k, utf8.encode(text));
        }).then(function (ct) { return { k: "chat", epoch: r.epoch, iv: b64(iv), ct: b64(ct) }; });
      },

      // open decrypts a chat message of peer id from; it fails for one
      // not sealed under a room key of the call by from.
      open: function (from, d) {
        var raw = d && typeof d.epoch === "number" ? epochs[d.epoch] : null;
        var iv = d && typeof d.iv === "string" ? unb64(d.iv) : null;
        var ct = d && typeof d.ct === "string" ? unb64(d.ct) : null;
        if (!raw || !iv || !ct || typeof from !== "string") return Promise.reject(new Error("not a chat message of this call"));
        return aesKey(raw, "decrypt").then(function (k) {
          return crypto.subtle.decrypt({ name: "AES-GCM", iv: iv, additionalData: chatAAD(d.epoch, from) }, k, ct);
        }).then(function (plain) { return new TextDecoder().decode(plain); });
      },

      // relay takes a relay message's data from peer id from.
      relay: function (from, d) {
        // Only someone the page lists (and so shows a code for) takes
        // part; anything else is dropped.
        if (!d || typeof d !== "object" || typeof from !== "string" || from === self || !self || !listed(from)) return;
        var p = pairs[from];
        var key;
        switch (d.k) {
          case "ask":
            if (first(from)) commit(from);
            break;
          case "commit":
            if (first(from) || typeof d.n !== "string" || typeof d.hash !== "string" || !open(from)) { show(); return; }
            p = fresh(from, d.n);
            p.commit = d.hash;
            reveal(from, p);
            show();
            break;
          case "pub":
            if (!p || p.theirs || p.checking || d.n !== p.n || typeof d.key !== "string" || !(key = unb64(d.key))) return;
            if (first(from)) {
              if (!p.committed) return;
              establish(from, p, key);
              reveal(from, p);
            } else {
              p.checking = true;
              sha256(key).then(function (h) {
                if (current(from, p) && b64(h) === p.commit) establish(from, p, key);
              });
            }
            break;
          case "room":
            if (from !== host || !p || d.n !== p.n || typeof d.epoch !== "number" || typeof d.iv !== "string" || typeof d.key !== "string") return;
            // Only a newer key of the host's than the one held: an old
            // one replayed would be one someone who left still has.
            if (room && room.host === from && !newer(d.epoch, room.epoch)) return;
            var iv = unb64(d.iv), ct = unb64(d.key);
            if (!iv || !ct) return;
            p.ready.then(function (wrap) {
              return crypto.subtle.decrypt({ name: "AES-GCM", iv: iv, additionalData: aad(d.epoch, from, self, p.n) }, wrap, ct);
            }).then(function (raw) {
              if (!current(from, p) || from !== host || (room && room.host === from && !newer(d.epoch, room.epoch))) return;
              room = { epoch: d.epoch, raw: new Uint8Array(raw), host: from };
              remember(d.epoch, room.raw);
              o.key(d.epoch, room.raw, true);
            }, function () { /* not wrapped for this round: ignored */ });
            break;
        }
      }
    };
  };
})();
