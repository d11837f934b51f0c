package sflow

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	st "yocho/internal/flow/sflow/sflowtest"
)

// benchDecode decodes the datagrams round robin into a reused batch and reports samples/s.
func benchDecode(b *testing.B, datagrams [][]byte) {
	d := New(DefaultConfig(), prometheus.NewRegistry())
	batch := flow.NewBatch(flow.DefaultBatchSize)
	samples := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if batch.Len() > flow.DefaultBatchSize-64 {
			batch.Reset()
		}
		before := batch.Len()
		if err := d.Decode(source4, 1, datagrams[i%len(datagrams)], batch); err != nil {
			b.Fatal(err)
		}
		samples += batch.Len() - before
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(samples)/float64(b.N), "samples/op")
}

// BenchmarkDecodeSynthetic: 8 flow samples with 128-byte headers of typical TCP/UDP traffic.
func BenchmarkDecodeSynthetic(b *testing.B) {
	benchDecode(b, [][]byte{st.Typical(8, 128, 1000)})
}

// BenchmarkDecodeCorpus: the real captures of the corpus.
func BenchmarkDecodeCorpus(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.pcap"))
	if len(files) == 0 {
		b.Skipf("no sFlow corpus in %s", corpusDir)
	}
	var dgs [][]byte
	for _, f := range files {
		for _, dg := range readPcap(b, f) {
			dgs = append(dgs, dg.payload)
		}
	}
	benchDecode(b, dgs)
}
