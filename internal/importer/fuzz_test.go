package importer

import (
	"bytes"
	"context"
	"testing"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/sflow"
)

func fuzzImport(t *testing.T, cfg Config, deps Deps, data []byte) {
	im, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	_, err = im.Read(context.Background(), bytes.NewReader(data), func(b *flow.Batch) error {
		for i := range b.Len() {
			if b.EndMs[i] < b.StartMs[i] {
				t.Fatalf("record %d ends before it starts: %+v", i, b.Record(i))
			}
		}
		return nil
	})
	_ = err // a malformed file may be refused; it must not panic
}

func FuzzZeekConn(f *testing.F) {
	f.Add([]byte(zeekTSV))
	f.Add([]byte(`{"ts":1700000000.25,"id.orig_h":"192.168.1.115","id.orig_p":49162,"id.resp_h":"41.108.179.197","id.resp_p":1177,"proto":"tcp","duration":3.0,"history":"S","orig_pkts":2,"orig_ip_bytes":104}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzImport(t, DefaultConfig(), Deps{}, data) })
}

func FuzzNfdumpCSV(f *testing.F) {
	f.Add([]byte("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n" +
		"2025-11-24 16:00:01,2025-11-24 16:00:01,0.009,8.8.8.8,192.168.1.10,53,50000,UDP,........,0,0,1,88,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-25 10:27:28.997\n" +
		"Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,88,1,0,0,88\n"))
	cfg := DefaultConfig()
	cfg.Format = FormatNfdumpCSV
	f.Fuzz(func(t *testing.T, data []byte) { fuzzImport(t, cfg, Deps{}, data) })
}

func FuzzPcapExports(f *testing.F) {
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	ng := ngBlock(ngSectionHeader, []byte{0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	ng = append(ng, ngBlock(ngInterface, []byte{0, 101, 0, 0, 0, 0, 0xff, 0xff, 0, 9, 0, 1, 6, 0, 0, 0})...)
	f.Add(append(ng, ngBlock(ngEnhancedPacket, make([]byte, 20))...))
	cfg := DefaultConfig()
	cfg.Format = FormatPcapExports
	deps := Deps{NetFlow: netflow.New(netflow.DefaultConfig(), nil), SFlow: sflow.New(sflow.DefaultConfig(), nil)}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzImport(t, cfg, deps, data) })
}
