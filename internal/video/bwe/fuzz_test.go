package bwe_test

import (
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/gesundheitsamt/portal/internal/video/bwe"
)

// FuzzFeedback feeds the estimator whatever a browser's RTCP may carry:
// it must neither panic nor leave the bounds of its configuration.
func FuzzFeedback(f *testing.F) {
	good := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		BaseSequenceNumber: 1, PacketStatusCount: 3, ReferenceTime: 7,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit,
			SymbolList: []uint16{rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedLargeDelta}}},
		RecvDeltas: []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500}, {Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -2500}},
	}
	good.Header.Length = uint16(good.MarshalSize()/4 - 1)
	raw, err := good.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte{0x8f, 0xcd, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		e := bwe.New(cfg)
		write := e.AddStream(streamInfo(), nop)
		h, payload := &rtp.Header{Version: 2, SSRC: 1}, make([]byte, 100)
		for seq := range uint16(64) {
			if err := h.SetExtension(extID, []byte{0, byte(seq)}); err != nil {
				t.Fatal(err)
			}
			if _, err := write.Write(h, payload, nil); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if err := e.WriteRTCP(pkts, nil); err != nil {
				t.Fatal(err)
			}
		}
		if r := e.GetTargetBitrate(); r < cfg.Min || r > cfg.Max {
			t.Fatalf("estimate %d outside %d to %d", r, cfg.Min, cfg.Max)
		}
		_ = e.GetStats()
	})
}
