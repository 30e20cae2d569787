package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/video"
)

// newCallBrowser starts a headless Chromium whose camera and microphone
// are Chromium's fake devices (a test pattern and a beep), granted
// without a prompt: a participant of a call.
func newCallBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserWith(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
}

var joinLink = regexp.MustCompile(`^https?://[^\s"<>]+/video/[0-9A-Z]{26}$`)

// framesOf is how many frames the first remote video of the page has
// decoded.
const framesOf = `(() => { const v = document.querySelector("#call-videos video"); return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0; })()`

// TestBrowserVideoConsultation: a citizen asks for an appointment; the
// caseworker starts a video consultation from the case; the citizen opens
// the join link from the invitation mail (caught by a real SMTP server),
// gives consent and a name, passes the tech check and waits; the
// caseworker enters the room and lets them in; both pages then play the
// other's video. Every page of the way is checked with axe.
func TestBrowserVideoConsultation(t *testing.T) {
	const videoCap = 500 // kbit/s
	sink := mailtest.Start(t)
	p := startPortal(t, map[string]string{
		"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP, "SMTP_URL": "smtp://" + sink.Addr,
		"PORTAL_VIDEO_MAX_KBPS": strconv.Itoa(videoCap),
	})
	staff := newCallBrowser(t)
	patient := newCallBrowser(t)
	axe := axeScript(t)

	sendTerminInBrowser(t, patient, p.base+"/amt/leipzig/leistungen/terminanfrage/antrag?lang=de")

	loginInBrowser(t, staff, p.base, "sachbearbeitung@leipzig.example")
	clickAndWait(t, staff, "open the case", chromedp.CSS(`.table a[href^="/staff/faelle/"]`))
	checkAccessibility(t, staff, axe, "case page with the video form")
	clickAndWait(t, staff, "plan without a date", chromedp.CSS(`form[action$="/video"] button[type="submit"]:not([name])`))
	checkAccessibility(t, staff, axe, "case page with the video form's error")
	if !eval[bool](t, staff, `document.title.startsWith("Fehler:")`) {
		t.Errorf("planning without a date: no error, title %q", eval[string](t, staff, `document.title`))
	}
	clickAndWait(t, staff, "start now", chromedp.CSS(`form[action$="/video"] button[name="jetzt"]`))
	if !eval[bool](t, staff, `/^\/staff\/video\/\d+$/.test(location.pathname)`) {
		t.Fatalf("after starting: %s", eval[string](t, staff, `location.pathname`))
	}
	checkAccessibility(t, staff, axe, "consultation page")
	consultation := eval[string](t, staff, `location.pathname`)
	// A guest link without an address, for the observer below: the page
	// shows it to pass on.
	step(t, staff, "guest name", chromedp.SendKeys(chromedp.ID("guest-name"), "Prüfgast"))
	clickAndWait(t, staff, "invite the guest", chromedp.CSS(`form[action$="/gast"] button`))
	checkAccessibility(t, staff, axe, "consultation page with a guest link")
	guestLink := eval[string](t, staff, `(document.querySelector(".files__item code") || {}).textContent || ""`)
	if !strings.Contains(guestLink, "/video/") {
		t.Fatalf("no guest link on the page: %q", guestLink)
	}
	guestLink = guestLink[strings.Index(guestLink, "/video/"):]

	// The invitation, over SMTP.
	var link string
	for deadline := time.Now().Add(30 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, m := range sink.Mails() {
			read, err := mail.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range read.Links {
				if joinLink.MatchString(l) && len(read.Attachments) == 1 && strings.HasSuffix(read.Attachments[0], ".ics") {
					link = l
				}
			}
		}
	}
	if link == "" {
		t.Fatalf("no invitation with a join link and a calendar among %d mails", len(sink.Mails()))
	}
	// The mail's links start with PORTAL_BASE_URL; this portal listens on
	// a port of its own.
	link = p.base + link[strings.Index(link, "/video/"):]

	step(t, patient, "open the link", chromedp.Navigate(link))
	waitLoaded(t, patient)
	checkAccessibility(t, patient, axe, "landing page")
	checkNoHorizontalScroll(t, patient, "landing page", 320)
	step(t, patient, "wide again", chromedp.EmulateViewport(1280, 900))
	clickAndWait(t, patient, "continue without consent", chromedp.CSS(`form button[type="submit"]`))
	checkAccessibility(t, patient, axe, "landing page with an error")
	step(t, patient, "consent", chromedp.Click(chromedp.ID("video-consent")))
	step(t, patient, "name", chromedp.SendKeys(chromedp.ID("video-name"), "Anna Muster"))
	clickAndWait(t, patient, "continue", chromedp.CSS(`form button[type="submit"]`))

	// The tech check: the preview plays and the meter hears the beep.
	waitTrue(t, patient, "the preview plays", `document.getElementById("check-preview").videoWidth > 0 && !document.getElementById("check-go").disabled`)
	waitTrue(t, patient, "the level meter moves", `document.getElementById("check-level").value > 0`)
	checkAccessibility(t, patient, axe, "tech check")
	checkNoHorizontalScroll(t, patient, "tech check", 320)
	step(t, patient, "wide", chromedp.EmulateViewport(1280, 900))
	// The page's sockets are kept, so that a server message can be played
	// to the page below (the quality message).
	eval[chromedp.Void](t, patient, `window.WebSocket = class extends WebSocket {
		constructor(...a) { super(...a); (window.testSockets = window.testSockets || []).push(this); }
	}; window.RTCPeerConnection = class extends RTCPeerConnection {
		constructor(...a) { super(...a); (window.testPCs = window.testPCs || []).push(this); }
	}`)
	step(t, patient, "to the waiting room", chromedp.Click(chromedp.ID("check-go")))
	waitTrue(t, patient, "the waiting room", `!document.getElementById("call-waiting").hidden`)
	checkAccessibility(t, patient, axe, "waiting room")
	// While the patient waits, the connection test sends a test picture
	// through the SFU's echo and judges what comes back.
	waitTrue(t, patient, "the connection test's verdict", `!document.getElementById("net").hidden && document.getElementById("net").getAttribute("data-verdict") !== "net_running"`)
	figures := eval[string](t, patient, `document.getElementById("net-verdict").textContent + " | " + document.getElementById("net-figures").innerText.replace(/\s+/g, " ")`)
	if v := eval[string](t, patient, `document.getElementById("net").getAttribute("data-verdict")`); v != "net_good" ||
		!strings.Contains(figures, "Mbit/s") || !strings.Contains(figures, "direkt") {
		t.Errorf("the connection test on loopback: %s: %s", v, figures)
	}
	t.Logf("connection test: %s", figures)
	// Its test picture is noise, which Chromium sends at 1.5 Mbit/s on
	// loopback unless held back: the media server's REMB messages cap it
	// at PORTAL_VIDEO_MAX_KBPS.
	if rate := eval[float64](t, patient, `parseFloat(document.getElementById("net-rate").textContent.replace(",", "."))`); rate <= 0 || rate > 1.2*videoCap/1000 {
		t.Errorf("the connection test's video came at %v Mbit/s, the cap is %d kbit/s", rate, videoCap)
	}
	checkAccessibility(t, patient, axe, "waiting room with the connection test")

	// The caseworker enters, sees the patient waiting, lets them in.
	step(t, staff, "reload the consultation", chromedp.Navigate(p.base+consultation))
	waitLoaded(t, staff)
	waitTrue(t, staff, "the staff's preview", `!document.getElementById("check-go").disabled`)
	step(t, staff, "enter the room", chromedp.Click(chromedp.ID("check-go")))
	waitTrue(t, staff, "the patient waits", `document.getElementById("call-lobby-list").textContent.includes("Anna Muster")`)
	checkAccessibility(t, staff, axe, "call with someone waiting")
	admitted := time.Now()
	step(t, staff, "let in", chromedp.Click(chromedp.CSS(`#call-lobby-list button.button:not(.button--secondary)`)))
	waitTrue(t, patient, "the patient sees the caseworker", framesOf+` > 0`)
	firstFrame := time.Since(admitted)
	waitTrue(t, staff, "the caseworker sees the patient", framesOf+` > 0`)
	f0 := eval[int](t, patient, framesOf)
	s0 := eval[int](t, staff, framesOf)
	time.Sleep(2 * time.Second)
	if f1, s1 := eval[int](t, patient, framesOf), eval[int](t, staff, framesOf); f1 <= f0 || s1 <= s0 {
		t.Errorf("video stalls: the patient's frames %d → %d, the caseworker's %d → %d", f0, f1, s0, s1)
	}
	t.Logf("from the admit click to the patient's first decoded remote frame: %v", firstFrame)
	// The patient's camera goes up in simulcast, as the server offers it:
	// encodings of a resolution each (those the test's bitrate cap leaves
	// room for); the caseworker's frames above came through one of them.
	layers := eval[[]string](t, patient, `(async () => {
		const pcs = window.testPCs || [], out = [];
		if (!pcs.length) return out;
		(await pcs[pcs.length - 1].getStats()).forEach(v => {
			if (v.type === "outbound-rtp" && v.kind === "video" && v.rid && v.frameWidth > 0) out.push(v.rid + " " + v.frameWidth + "x" + v.frameHeight);
		});
		return out.sort();
	})()`, chromedp.EvalAwaitPromise)
	t.Logf("the patient's camera encodings: %v", layers)
	if len(layers) < 2 {
		t.Errorf("the patient's camera is sent in %d encodings with frames (%v), want simulcast", len(layers), layers)
	}
	// The caseworker gets the best of them. When the patient's browser
	// stops it (as a browser does when its uplink no longer carries it),
	// the caseworker's picture goes on in the smaller one, changed at a
	// keyframe; when it comes back, so does the bigger picture.
	const height = `(() => { const v = document.querySelector("#call-videos video"); return v ? v.videoHeight : 0; })()`
	const only = `(async (rid) => {
		const pcs = window.testPCs || [];
		const s = pcs.length && pcs[pcs.length - 1].getSenders().find(x => x.track && x.track.kind === "video");
		if (!s) return false;
		const p = s.getParameters();
		p.encodings.forEach(e => { e.active = !rid || e.rid === rid; });
		await s.setParameters(p);
		return true;
	})`
	waitTrue(t, staff, "the caseworker gets the patient's best encoding", height+` >= 360`)
	big := eval[int](t, staff, height)
	if !eval[bool](t, patient, only+`("q")`, chromedp.EvalAwaitPromise) {
		t.Fatal("no camera sender in the patient's page")
	}
	waitTrue(t, staff, "the caseworker's picture in the small encoding", fmt.Sprintf(`%s > 0 && %s < %d`, height, height, big))
	small, s2 := eval[int](t, staff, height), eval[int](t, staff, framesOf)
	waitTrue(t, staff, "the caseworker's picture goes on after the change", fmt.Sprintf(`%s > %d`, framesOf, s2+10))
	eval[bool](t, patient, only+`("")`, chromedp.EvalAwaitPromise)
	waitTrue(t, staff, "the caseworker's picture big again", fmt.Sprintf(`%s >= %d`, height, big))
	t.Logf("the caseworker's picture: %d lines, %d in the small encoding, then %d again", big, small, eval[int](t, staff, height))
	// End to end encrypted: both show the same security code of their
	// pair of keys, one code on each side.
	codes := `document.getElementById("call-code").hidden ? "" : Array.from(document.querySelectorAll("#call-codes strong")).map(e => e.textContent).join(",")`
	waitTrue(t, patient, "the patient's security code", `!document.getElementById("call-code").hidden`)
	waitTrue(t, staff, "the caseworker's security code", `!document.getElementById("call-code").hidden`)
	if pc, sc := eval[string](t, patient, codes), eval[string](t, staff, codes); len(pc) != 7 || pc != sc {
		t.Errorf("security codes: the patient's %q, the caseworker's %q", pc, sc)
	}
	t.Logf("encoded transforms: RTCRtpScriptTransform %v", eval[bool](t, patient, `"RTCRtpScriptTransform" in window`))
	checkAccessibility(t, patient, axe, "call (patient)")
	checkAccessibility(t, staff, axe, "call (staff)")
	if eval[bool](t, patient, `!document.querySelector("#call-videos .call__paused").hidden`) {
		t.Error("a playing video is marked as paused")
	}
	if got := eval[string](t, patient, `document.querySelector("#call-videos .call__name").textContent`); !strings.Contains(got, "Gesundheitsamt") {
		t.Errorf("the patient's view of the caseworker is labelled %q", got)
	}

	// A third participant, written in Go, joins through the guest link and
	// the key exchange: what the SFU forwarded to it is ciphertext that
	// only the room key makes VP8 again.
	guest := joinAsGuest(t, p.base, guestLink, "Prüfgast")
	waitTrue(t, staff, "the guest waits", `document.getElementById("call-lobby-list").textContent.includes("Prüfgast")`)
	step(t, staff, "let the guest in", chromedp.Click(chromedp.CSS(`#call-lobby-list button.button:not(.button--secondary)`)))
	guest.wait(video.TypeAdmitted)
	guest.checkCiphertext(t, 2)
	// The codes of the guest's pairs, computed in Go from the keys the
	// guest agreed on, are the ones the two pages show for the guest.
	for _, other := range []struct {
		name string
		page context.Context
		role string
	}{{"caseworker", staff, "staff"}, {"patient", patient, "patient"}} {
		id := guest.peerOf(t, other.role)
		want := guest.codeWith(id)
		got := ""
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = eval[string](t, other.page, fmt.Sprintf(`(document.querySelector('#call-codes strong[data-peer="%s"]') || {}).textContent || ""`, guest.self)); got != "" {
				break
			}
		}
		if want == "" || got != want {
			t.Errorf("the %s's page shows %q for the guest, the guest's pair with them has %q", other.name, got, want)
		}
	}

	// Chat: the patient writes, the caseworker reads it, and the guest
	// decrypts it with the room key: the server carried ciphertext only.
	step(t, patient, "write a message", chromedp.SendKeys(chromedp.ID("chat-text"), "Guten Tag, ich höre Sie gut.\n"))
	waitTrue(t, staff, "the caseworker reads the message", `document.getElementById("chat-log").textContent.includes("Anna Muster (antragstellende Person): Guten Tag, ich höre Sie gut.")`)
	if got := eval[string](t, patient, `document.getElementById("chat-log").textContent + "|" + document.getElementById("chat-text").value`); got != "Sie: Guten Tag, ich höre Sie gut.|" {
		t.Errorf("the patient's own chat: %q", got)
	}
	for deadline := time.Now().Add(10 * time.Second); !guest.chatted("Guten Tag, ich höre Sie gut.") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
	}
	if !guest.chatted("Guten Tag, ich höre Sie gut.") {
		t.Error("the guest could not decrypt the chat message with the room key")
	}
	checkAccessibility(t, staff, axe, "call with a chat message")

	// The controls are buttons with names, reachable by keyboard.
	step(t, patient, "focus mute", chromedp.Focus(chromedp.ID("call-mute")))
	step(t, patient, "mute by keyboard", chromedp.KeyEvent(kb.Enter))
	if eval[string](t, patient, `document.getElementById("call-mute").getAttribute("aria-pressed")`) != "true" {
		t.Error("the mute button did not take Enter")
	}

	weakConnection(t, patient, staff, axe)

	// The caseworker ends it for everyone: both see the page after the call.
	if got := eval[string](t, patient, `document.getElementById("call-mute").textContent`); got != "Mikrofon aus" {
		t.Errorf("the mute toggle changed its name to %q", got)
	}
	step(t, staff, "end for everyone", chromedp.Click(chromedp.ID("call-end")))
	waitTrue(t, staff, "the question before ending", `!document.getElementById("call-end-confirm").hidden && document.activeElement.id === "call-end-question"`)
	checkAccessibility(t, staff, axe, "asked before ending for everyone")
	step(t, staff, "not yet", chromedp.Click(chromedp.ID("call-end-no")))
	if eval[bool](t, patient, `!document.getElementById("call-after").hidden`) {
		t.Fatal("cancelling the question ended the call")
	}
	step(t, staff, "end for everyone", chromedp.Click(chromedp.ID("call-end")))
	step(t, staff, "yes, end it", chromedp.Click(chromedp.ID("call-end-yes")))
	waitTrue(t, patient, "the patient's page after the call", `!document.getElementById("call-after").hidden`)
	checkAccessibility(t, patient, axe, "after the call")
	step(t, patient, "the link again", chromedp.Navigate(link))
	waitLoaded(t, patient)
	if !eval[bool](t, patient, `document.querySelector("h1").textContent.includes("vorbei")`) {
		t.Errorf("the link after the end says %q", eval[string](t, patient, `document.querySelector("h1").textContent`))
	}
}

// weakConnection plays a weak connection to the patient's page in the
// call: the server's quality message (on the page's socket), then an
// uplink the browser estimates at 50 kbit/s (getStats answers so), which
// pauses the patient's camera, so that the caseworker's tile of the
// patient marks its picture paused; a camera switched off meanwhile is not
// put back by the next try, and switched on, it is.
func weakConnection(t *testing.T, patient, staff context.Context, axe string) {
	t.Helper()
	play := func(m string) {
		eval[chromedp.Void](t, patient, `window.testSockets[window.testSockets.length - 1].onmessage({ data: '`+m+`' })`)
	}
	// The text of a notice that is shown in a status region ("" if not).
	const notice = `(e => e.hidden || !e.closest('[role="status"]') ? "" : e.textContent)(document.getElementById(%q))`
	const status = `document.getElementById("call-status").textContent`

	play(`{"type":"quality","video":"paused"}`)
	if got := eval[string](t, patient, fmt.Sprintf(notice, "call-quality-down")); !strings.Contains(got, "zu schwach für Video") {
		t.Errorf("video paused by the server: the notice says %q", got)
	}
	checkAccessibility(t, patient, axe, "call with video paused by the server")
	play(`{"type":"quality","video":"on"}`)
	if got := eval[string](t, patient, fmt.Sprintf(notice, "call-quality-down")+` + "|" + `+status); got != "|Das Bild ist wieder da." {
		t.Errorf("video on again: notice and status line %q", got)
	}

	eval[chromedp.Void](t, patient, `(() => {
		window.testRate = 50000;
		const get = RTCPeerConnection.prototype.getStats;
		RTCPeerConnection.prototype.getStats = function (...a) {
			return get.apply(this, a).then((r) => {
				if (window.testRate === null) return r;
				const m = new Map();
				r.forEach((v, k) => m.set(k, v.type === "candidate-pair" ? Object.assign({}, v, { availableOutgoingBitrate: window.testRate }) : v));
				return m;
			});
		};
	})()`)
	waitTrue(t, patient, "the patient's camera paused", fmt.Sprintf(notice, "call-quality-up")+`.includes("Ihr Bild ist angehalten")`)
	paused := time.Now()
	const mark = `(() => {
		const tile = Array.from(document.querySelectorAll("#call-videos .call__tile")).find(li => li.textContent.includes("Anna Muster"));
		const p = tile && tile.querySelector(".call__paused");
		return p && !p.hidden && !p.closest("[aria-live], [role=status], [role=alert]") ? p.textContent : "";
	})()`
	waitTrue(t, staff, "the caseworker's tile of the patient marked", mark+` !== ""`)
	if got := eval[string](t, staff, mark); got != "Bild angehalten Schwache Verbindung" {
		t.Errorf("the paused tile says %q", got)
	}
	checkAccessibility(t, staff, axe, "call with a paused picture")
	checkAccessibility(t, patient, axe, "call with the own camera paused")

	step(t, patient, "camera off", chromedp.Click(chromedp.ID("call-camera")))
	eval[chromedp.Void](t, patient, `window.testRate = null`)
	// The try is due 20 s after the pause; by 26 s a camera put back would
	// have shown frames on the caseworker's tile.
	time.Sleep(time.Until(paused.Add(26 * time.Second)))
	if eval[string](t, staff, mark) == "" || eval[string](t, patient, fmt.Sprintf(notice, "call-quality-up")) == "" {
		t.Error("the paused camera came back while switched off")
	}
	step(t, patient, "camera on", chromedp.Click(chromedp.ID("call-camera")))
	waitTrue(t, patient, "the patient's camera back", fmt.Sprintf(notice, "call-quality-up")+` === "" && `+status+` === "Ihr Bild wird wieder übertragen."`)
	waitTrue(t, staff, "the caseworker's tile of the patient playing again", mark+` === ""`)
}

// waitTrue polls expr in the tab until it is true, for up to 20 seconds.
func waitTrue(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok, err := tryEval[bool](ctx, expr); err == nil && ok {
			return
		}
	}
	t.Fatalf("%s: not within 20 s (%s)", what, expr)
}
