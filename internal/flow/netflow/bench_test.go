package netflow_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/netflow/netflowtest"
)

// benchDecode decodes data datagrams over and over (after the templates) and reports flows/s.
func benchDecode(b *testing.B, templates [][]byte, data [][]byte) {
	dec := netflow.New(netflow.DefaultConfig(), prometheus.NewRegistry())
	batch := flow.NewBatch(flow.DefaultBatchSize)
	for _, t := range templates {
		_ = dec.Decode(exporterA, nowMs, t, batch)
	}
	batch.Reset()
	flows := 0
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if batch.Len() > flow.DefaultBatchSize-1000 {
			batch.Reset()
		}
		before := batch.Len()
		if err := dec.Decode(exporterA, nowMs, data[i%len(data)], batch); err != nil {
			b.Fatal(err)
		}
		flows += batch.Len() - before
	}
	cpu := cpuSeconds() - cpu0
	b.ReportMetric(float64(flows)/b.Elapsed().Seconds(), "flows/s")
	// On a shared machine wall time undercounts: flows per second of CPU this process used.
	if cpu > 0 {
		b.ReportMetric(float64(flows)/cpu, "flows/cpu-s")
	}
	b.ReportMetric(float64(flows)/float64(b.N), "flows/op")
}

// cpuSeconds is the user and system CPU time used by this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkDecode measures the decoder on the synthetic datagrams shared with the goflow2
// comparison (yocho/bench) and on the real captures of the corpus.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{25} {
		tpl, data := netflowtest.SyntheticV9(n)
		b.Run("v9-synthetic", func(b *testing.B) { benchDecode(b, [][]byte{tpl}, [][]byte{data}) })
		tpl, data = netflowtest.SyntheticIPFIX(n)
		b.Run("ipfix-synthetic", func(b *testing.B) { benchDecode(b, [][]byte{tpl}, [][]byte{data}) })
	}
	b.Run("v5-synthetic", func(b *testing.B) { benchDecode(b, nil, [][]byte{v5Packet(1, 100, 30)}) })
	dir := filepath.Join(corpusDir, "akvorado/netflow")
	for _, c := range []struct{ name, tpl, data string }{
		{"corpus-v5", "", "nfv5.pcap"},
		{"corpus-v9", "template.pcap", "data.pcap"},
		{"corpus-v9-multiplesamplingrates", "multiplesamplingrates-template.pcap", "multiplesamplingrates-data.pcap"},
		{"corpus-ipfix-physicalinterfaces", "", "physicalinterfaces.pcap"},
		{"corpus-ipfix-juniper", "juniper-cpid-template.pcap", "juniper-cpid-data.pcap"},
	} {
		b.Run(c.name, func(b *testing.B) {
			needCorpus(b, "akvorado/netflow")
			var tpls, data [][]byte
			if c.tpl != "" {
				for _, d := range readPcap(b, filepath.Join(dir, c.tpl)) {
					tpls = append(tpls, d.payload)
				}
			}
			for _, d := range readPcap(b, filepath.Join(dir, c.data)) {
				tpls = append(tpls, d.payload) // a capture holding its templates teaches them first
				data = append(data, d.payload)
			}
			benchDecode(b, tpls, data)
		})
	}
}
