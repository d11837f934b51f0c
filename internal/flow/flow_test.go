package flow

import (
	"net/netip"
	"reflect"
	"testing"
)

func sample(i int) Record {
	return Record{
		ReceivedMs: 1_700_000_000_000 + int64(i), StartMs: 1_699_999_999_000, EndMs: 1_700_000_000_000,
		Exporter: netip.MustParseAddr("192.0.2.1"), ObsDomain: 7, SamplerID: 2, SamplingRate: 1000,
		InIf: 10, OutIf: 20,
		SrcAddr: netip.MustParseAddr("2001:db8::1"), DstAddr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
		NextHop: netip.MustParseAddr("192.0.2.254"), SrcPort: 53, DstPort: uint16(i), Proto: 17,
		TCPFlags: 0x12, ToS: 0xb8, ICMPType: 3, ICMPCode: 1, Bytes: 1500, Packets: 3,
		SrcAS: 64500, DstAS: 64501, SrcMask: 48, DstMask: 24, VLAN: 100,
		Direction: DirectionIngress, ForwardingStatus: 64, MPLSLabel: 16004,
	}
}

func TestBatchRoundTrip(t *testing.T) {
	b := NewBatch(2)
	for i := range 5 { // past the capacity: the columns grow together
		r := sample(i)
		b.Append(&r)
	}
	if b.Len() != 5 {
		t.Fatalf("Len = %d, want 5", b.Len())
	}
	for i := range 5 {
		if got, want := b.Record(i), sample(i); !reflect.DeepEqual(got, want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	// Every column has the batch's length: a field forgotten in Append or Truncate shows here.
	// (Enrichment's hostgroup indexes are the whole batch's, not records' fields.)
	b.SrcGroup, b.DstGroup, b.Groups = make([]int32, 5), make([]int32, 5), "networks"
	v := reflect.ValueOf(b).Elem()
	notRecords := map[string]bool{"SrcGroup": true, "DstGroup": true, "Groups": true}
	for i := range v.NumField() {
		if notRecords[v.Type().Field(i).Name] {
			continue
		}
		if n := v.Field(i).Len(); n != 5 {
			t.Errorf("column %s has %d values, want 5", v.Type().Field(i).Name, n)
		}
	}
	b.Truncate(2)
	for i := range v.NumField() {
		if notRecords[v.Type().Field(i).Name] {
			continue
		}
		if n := v.Field(i).Len(); n != 2 {
			t.Errorf("after Truncate(2), column %s has %d values", v.Type().Field(i).Name, n)
		}
	}
	if len(b.SrcGroup) != 0 || len(b.DstGroup) != 0 || b.Groups != nil {
		t.Errorf("after Truncate(2), the hostgroup indexes are kept: %d, %d, %v", len(b.SrcGroup), len(b.DstGroup), b.Groups)
	}
	c := NewBatch(0)
	c.AppendBatch(b)
	if !reflect.DeepEqual(c.Record(1), sample(1)) {
		t.Errorf("AppendBatch lost fields: %+v", c.Record(1))
	}
}

func TestScaled(t *testing.T) {
	r := sample(0)
	if r.ScaledBytes() != 1_500_000 || r.ScaledPackets() != 3000 {
		t.Errorf("scaled = %d bytes, %d packets", r.ScaledBytes(), r.ScaledPackets())
	}
	r.SamplingRate = 0 // unknown counts as unsampled
	b := NewBatch(1)
	b.Append(&r)
	if b.ScaledBytes(0) != 1500 || b.ScaledPackets(0) != 3 {
		t.Errorf("rate 0: scaled = %d bytes, %d packets", b.ScaledBytes(0), b.ScaledPackets(0))
	}
}

func TestRefillDoesNotAllocate(t *testing.T) {
	var p Pool
	b := p.Get()
	r := sample(1)
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		for range DefaultBatchSize {
			b.Append(&r)
		}
	})
	if allocs > 0 {
		t.Errorf("refilling a pooled batch allocated %.1f times per batch", allocs)
	}
}

func BenchmarkAppend(b *testing.B) {
	batch := NewBatch(DefaultBatchSize)
	r := sample(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if batch.Len() == DefaultBatchSize {
			batch.Reset()
		}
		batch.Append(&r)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}
