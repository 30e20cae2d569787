// Package turn is the portal's embedded TURN server (RFC 8656) for video
// consultations: browsers whose network blocks direct media (UDP filtered,
// only outbound TCP 443 open) relay through it to the SFU or to each other.
//
// A participant receives short-lived credentials of the TURN REST scheme
// (coturn's use-auth-secret): username "<expiry-unix>:<user>", password
// base64(HMAC-SHA1(secret, username)). The websocket layer hands them to the
// browser as an RTCIceServer (see Server.ICEServers); nothing is stored.
//
// The server relays UDP only. It refuses peers on loopback, private,
// link-local, CGNAT, multicast and reserved addresses (unless Config allows
// loopback or private ones), so that a participant cannot use it to reach
// the office's internal network. Each allocation may relay Config.QuotaBytes
// and is closed past that; allocations are limited in total and per user.
//
// The protocol work is github.com/pion/turn; this package adds the
// credential scheme, the peer filter, the limits, logging without personal
// data and a Close that ends every goroutine the server started.
package turn
