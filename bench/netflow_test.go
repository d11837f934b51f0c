package bench

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/netflow/netflowtest"
)

// flowsPerDatagram is the size of the synthetic datagrams: a typical router fills a 1500-byte
// datagram with 20-30 records.
const flowsPerDatagram = 25

var benchExporter = netip.MustParseAddr("192.0.2.10")

// BenchmarkNetFlow decodes the same synthetic NetFlow v9 and IPFIX datagrams with yocho's
// decoder (into a columnar batch), with goflow2 v2.2.6's decoder alone, and with goflow2's
// decoder followed by its protobuf producer (what goflow2 does before it can hand a flow on).
// Compare the flows/s of the sub-benchmarks of one run.
func BenchmarkNetFlow(b *testing.B) {
	for _, proto := range []string{"v9", "ipfix"} {
		tpl, data := netflowtest.SyntheticV9(flowsPerDatagram)
		if proto == "ipfix" {
			tpl, data = netflowtest.SyntheticIPFIX(flowsPerDatagram)
		}
		b.Run(proto+"/yocho", func(b *testing.B) {
			dec := netflow.New(netflow.DefaultConfig(), nil)
			batch := flow.NewBatch(flow.DefaultBatchSize)
			if err := dec.Decode(benchExporter, 0, tpl, batch); err != nil {
				b.Fatal(err)
			}
			flows := 0
			b.ReportAllocs()
			for b.Loop() {
				if batch.Len() > flow.DefaultBatchSize-flowsPerDatagram {
					batch.Reset()
				}
				before := batch.Len()
				if err := dec.Decode(benchExporter, 0, data, batch); err != nil {
					b.Fatal(err)
				}
				flows += batch.Len() - before
			}
			report(b, flows)
		})
		b.Run(proto+"/goflow2-decode", func(b *testing.B) {
			templates := gfnetflow.CreateTemplateSystem()
			decodeGoflow2(b, templates, tpl)
			flows := 0
			b.ReportAllocs()
			for b.Loop() {
				flows += decodeGoflow2(b, templates, data)
			}
			report(b, flows)
		})
		b.Run(proto+"/goflow2-decode+produce", func(b *testing.B) {
			templates := gfnetflow.CreateTemplateSystem()
			cfg, err := (&protoproducer.ProducerConfig{}).Compile()
			if err != nil {
				b.Fatal(err)
			}
			prod, err := protoproducer.CreateProtoProducer(cfg, protoproducer.CreateSamplingSystem)
			if err != nil {
				b.Fatal(err)
			}
			args := &producer.ProduceArgs{
				Src:            netip.AddrPortFrom(benchExporter, 50000),
				SamplerAddress: benchExporter,
				TimeReceived:   time.Unix(netflowtest.ExportSecs, 0),
			}
			decodeGoflow2(b, templates, tpl)
			flows := 0
			b.ReportAllocs()
			for b.Loop() {
				var v9 gfnetflow.NFv9Packet
				var ipfix gfnetflow.IPFIXPacket
				if err := gfnetflow.DecodeMessageVersion(bytes.NewBuffer(data), templates, &v9, &ipfix); err != nil {
					b.Fatal(err)
				}
				var msg any = &v9
				if proto == "ipfix" {
					msg = &ipfix
				}
				msgs, err := prod.Produce(msg, args)
				if err != nil {
					b.Fatal(err)
				}
				flows += len(msgs)
				prod.Commit(msgs)
			}
			report(b, flows)
		})
	}
}

// decodeGoflow2 decodes one datagram with goflow2 and returns its data records.
func decodeGoflow2(b *testing.B, templates gfnetflow.NetFlowTemplateSystem, data []byte) int {
	var v9 gfnetflow.NFv9Packet
	var ipfix gfnetflow.IPFIXPacket
	if err := gfnetflow.DecodeMessageVersion(bytes.NewBuffer(data), templates, &v9, &ipfix); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, fs := range append(v9.FlowSets, ipfix.FlowSets...) {
		if ds, ok := fs.(gfnetflow.DataFlowSet); ok {
			n += len(ds.Records)
		}
	}
	return n
}

func report(b *testing.B, flows int) {
	if flows == 0 {
		b.Fatal("no flow decoded")
	}
	b.ReportMetric(float64(flows)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(flows), "ns/flow")
}
