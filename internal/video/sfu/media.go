package sfu

import (
	"fmt"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/pionlog"
)

// The payload types the server offers. The server is always the offerer, so
// these numbers are the ones every browser uses towards it.
const (
	ptOpus = 111
	ptVP8  = 96
	ptH264 = 102
)

// newMediaEngine registers the codecs every participant can send and
// receive: Opus, VP8 and H.264 constrained baseline (what Safari and
// hardware encoders do best). No RTX and no FEC: retransmissions come on the
// media SSRC (RFC 4585 NACK), which keeps forwarding a plain copy. With
// goog-remb, the server caps a publisher's video bitrate with REMB messages
// (see adapt.go).
func newMediaEngine() (*webrtc.MediaEngine, error) {
	videoFeedback := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBGoogREMB}}
	m := &webrtc.MediaEngine{}
	codecs := []struct {
		kind  webrtc.RTPCodecType
		codec webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
				SDPFmtpLine: "minptime=10;useinbandfec=1",
			},
			PayloadType: ptOpus,
		}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback,
			},
			PayloadType: ptVP8,
		}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			},
			PayloadType: ptH264,
		}},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.codec, c.kind); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.codec.MimeType, err)
		}
	}
	return m, nil
}

// nackHistory is how many sent packets each forwarded stream keeps for
// retransmission (a power of two).
const nackHistory = 256

// newInterceptors registers what every peer connection runs on its RTP and
// RTCP: NACK generation (towards publishers) and responding (towards
// subscribers, from a per-sender history), sender and receiver reports, and
// transport-wide congestion control: TWCC feedback to publishers, so that
// the browser's own congestion control sizes what it sends, and TWCC
// sequence numbers on what the server sends, so that subscribers' feedback
// describes the server's stream rather than the publisher's. That feedback
// feeds a Google Congestion Control estimator per connection (package
// bwe): what the server may send each subscriber. It records the video
// streams only, the ones with TWCC sequence numbers (configureTWCC).
//
// webrtc.RegisterDefaultInterceptors is not used because it registers the
// MID and RID header extensions in both directions: a forwarded packet
// would carry the publisher's MID into a subscriber's connection, where it
// names another transceiver, and the browser would route it there. They
// are negotiated for what the server receives only (configureSimulcast),
// and the outbound interceptor drops them from what it sends.
func newInterceptors(m *webrtc.MediaEngine, bwe *cc.InterceptorFactory, out *outboundFactory, logs logging.LoggerFactory) (*interceptor.Registry, error) {
	r := &interceptor.Registry{}
	r.Add(out.inbound())
	r.Add(bwe)
	err := webrtc.ConfigureNackWithOptions(m, r,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(logs)},
		nack.WithResponderLoggerFactory(logs),
		// 256 packets of history per forwarded stream: three seconds of
		// 1 Mbit/s video, far beyond any retransmission that still helps,
		// at a quarter of pion's default memory.
		nack.ResponderSize(nackHistory))
	if err != nil {
		return nil, err
	}
	err = webrtc.ConfigureRTCPReportsWithOptions(r,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(logs)},
		report.WithSenderLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	if err := configureTWCC(m, r, logs); err != nil {
		return nil, err
	}
	if err := configureSimulcast(m); err != nil {
		return nil, err
	}
	r.Add(out)
	return r, nil
}

// configureTWCC negotiates transport-wide congestion control for video
// only: TWCC feedback to publishers and TWCC sequence numbers on what the
// server forwards (webrtc.ConfigureTWCCSender and
// ConfigureTWCCHeaderExtensionSender do both kinds). Audio is a small,
// steady share of a link (about 50 kbit/s per Opus track) that needs no
// estimate; leaving it out spares a third of all packets the feedback
// bookkeeping on both sides (browsers left audio out of their own
// send-side estimate for years, for the same reason).
func configureTWCC(m *webrtc.MediaEngine, r *interceptor.Registry, logs logging.LoggerFactory) error {
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	ext := webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}
	if err := m.RegisterHeaderExtension(ext, webrtc.RTPCodecTypeVideo); err != nil {
		return err
	}
	feedback, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(logs))
	if err != nil {
		return err
	}
	r.Add(feedback)
	numbers, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return err
	}
	r.Add(numbers)
	return nil
}

// configureSimulcast negotiates the MID and RID header extensions on the
// video the server receives: a simulcast publisher's encodings are told
// apart by their RID (simulcast.go).
func configureSimulcast(m *webrtc.MediaEngine) error {
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
		ext := webrtc.RTPHeaderExtensionCapability{URI: uri}
		if err := m.RegisterHeaderExtension(ext, webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
			return fmt.Errorf("register %s: %w", uri, err)
		}
	}
	return nil
}

// newAPI builds the one webrtc.API all the SFU's peer connections come from.
// Every connection gets its own estimator from bwe, and its own outbound
// interceptor from out.
func newAPI(cfg Config, udp ice.UDPMux, tcp ice.TCPMux, bwe *cc.InterceptorFactory, out *outboundFactory, logs pionlog.Factory) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	r, err := newInterceptors(m, bwe, out, logs)
	if err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	se.SetICEUDPMux(udp)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if tcp != nil {
		se.SetICETCPMux(tcp)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	// A server neither needs nor can resolve mDNS names; browsers reach it
	// on its real addresses and show up as peer-reflexive candidates.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.DisableActiveTCP(true)
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, fmt.Errorf("public ips: %w", err)
		}
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(r),
		webrtc.WithSettingEngine(se),
	), nil
}
