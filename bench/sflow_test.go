package bench

import (
	"bytes"
	"net/netip"
	"testing"

	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"yocho/internal/flow"
	"yocho/internal/flow/sflow"
	"yocho/internal/flow/sflow/sflowtest"
)

// sflowDatagram is the datagram every sFlow benchmark decodes: 8 flow samples with 128-byte
// headers of typical TCP/UDP traffic (sflowtest.Typical).
var sflowDatagram = sflowtest.Typical(8, 128, 1000)

const sflowSamples = 8

func reportSamples(b *testing.B) {
	b.ReportMetric(float64(sflowSamples*b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkSFlowYocho decodes into a reused flow.Batch, headers parsed.
func BenchmarkSFlowYocho(b *testing.B) {
	d := sflow.New(sflow.DefaultConfig(), nil)
	batch := flow.NewBatch(flow.DefaultBatchSize)
	src := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if batch.Len() > flow.DefaultBatchSize-sflowSamples {
			batch.Reset()
		}
		if err := d.Decode(src, 1, sflowDatagram, batch); err != nil {
			b.Fatal(err)
		}
	}
	reportSamples(b)
}

// BenchmarkSFlowGoflow2Decode is goflow2's decoder alone: structures, headers left as bytes.
func BenchmarkSFlowGoflow2Decode(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var p gfsflow.Packet
		if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(sflowDatagram), &p); err != nil {
			b.Fatal(err)
		}
	}
	reportSamples(b)
}

// BenchmarkSFlowGoflow2DecodeProduce adds goflow2's producer, which parses the sampled headers
// into flow messages: the work comparable to ours.
func BenchmarkSFlowGoflow2DecodeProduce(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var p gfsflow.Packet
		if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(sflowDatagram), &p); err != nil {
			b.Fatal(err)
		}
		msgs, err := protoproducer.ProcessMessageSFlowConfig(&p, nil)
		if err != nil || len(msgs) != sflowSamples {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
	}
	reportSamples(b)
}
