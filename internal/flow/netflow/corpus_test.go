package netflow_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
)

// akvoradoGroups are the captures of corpus/flows/akvorado/netflow, each group replayed in order
// to one decoder: templates (and options) before the data that needs them.
var akvoradoGroups = [][]string{
	{"nfv5.pcap"},
	{"data+templates.pcap"},
	{"mpls.pcap"},
	{"nat.pcap"},
	{"physicalinterfaces.pcap"},
	{"options-template.pcap", "options-data.pcap", "template.pcap", "data.pcap"},
	{"multiplesamplingrates-options-template.pcap", "multiplesamplingrates-options-data.pcap",
		"multiplesamplingrates-template.pcap", "multiplesamplingrates-data.pcap"},
	{"datalink-template.pcap", "datalink-data.pcap"},
	{"ethernet-over-mpls-with-control-word-template.pcap", "ethernet-over-mpls-with-control-word-data.pcap"},
	{"icmp-template.pcap", "icmp-data.pcap"},
	{"ipfix-srv6-template.pcap", "ipfix-srv6-data.pcap"},
	{"ipfixprobe-templates.pcap", "ipfixprobe-data.pcap"},
	{"juniper-cpid-template.pcap", "juniper-cpid-data.pcap"},
	{"samplingrate-template.pcap", "samplingrate-data.pcap"},
}

// corpusReceivedMs is the receive time given to every corpus datagram: captures of one group
// were taken days apart, and a real receive time would expire their templates.
const corpusReceivedMs = 1_700_000_000_000

// TestAkvoradoCorpus decodes each capture and compares every record, field by field, with what
// tshark decodes from the same packets.
func TestAkvoradoCorpus(t *testing.T) {
	dir := needCorpus(t, "akvorado/netflow")
	needTool(t, "tshark")
	seen := map[string]bool{}
	for _, group := range akvoradoGroups {
		t.Run(group[len(group)-1], func(t *testing.T) {
			var files []string
			var dgrams []datagram
			for _, f := range group {
				seen[f] = true
				files = append(files, filepath.Join(dir, f))
				dgrams = append(dgrams, readPcap(t, filepath.Join(dir, f))...)
			}
			var ports []uint16
			for _, d := range dgrams {
				if !slices.Contains(ports, d.dstPort) {
					ports = append(ports, d.dstPort)
				}
			}
			got, dec := decodeAll(t, dgrams)
			undecoded := 0
			want := tsharkFlows(t, tsharkPackets(t, mergeCaptures(t, files), ports), dgrams, &undecoded)
			compareFlows(t, got, want, undecoded > 0)
			if undecoded == 0 {
				checkNothingPending(t, dec, dgrams)
			}
		})
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	for _, f := range all {
		if !seen[filepath.Base(f)] {
			t.Errorf("capture %s is in no group: add it", filepath.Base(f))
		}
	}
}

// decodeAll decodes datagrams in order with one decoder, failing on any error.
func decodeAll(t testing.TB, dgrams []datagram) (*flow.Batch, *netflow.Decoder) {
	t.Helper()
	dec := netflow.New(netflow.DefaultConfig(), nil)
	b := flow.NewBatch(64)
	for i, d := range dgrams {
		if err := dec.Decode(d.src, corpusReceivedMs, d.payload, b); err != nil {
			t.Fatalf("datagram %d from %s: %v", i, d.src, err)
		}
	}
	return b, dec
}

// checkNothingPending fails if data still waits for a template that tshark found.
func checkNothingPending(t testing.TB, dec *netflow.Decoder, dgrams []datagram) {
	t.Helper()
	seen := map[netip.Addr]bool{}
	for _, d := range dgrams {
		if seen[d.src] {
			continue
		}
		seen[d.src] = true
		if st := dec.ExporterState(d.src); st.Pending != 0 {
			t.Errorf("exporter %s: %d data sets still wait for their template", d.src, st.Pending)
		}
	}
}

// tsharkFlow is one data record as tshark decodes it, with its datagram's header.
type tsharkFlow struct {
	exporter netip.Addr
	version  int
	domain   uint32
	exportMs int64
	uptimeMs uint32
	fields   map[string][]string
	rate     uint32 // expected sampling rate, from the options records tshark decoded before
	sysInit  int64  // IPFIX boot time, from options records, 0 if none
	where    string
}

// optionsState is what the options records tshark decoded say of one domain.
type optionsState struct {
	samplers map[uint64]uint32
	sysInit  int64
}

const anySampler = uint64(1) << 63

// tsharkFlows lists the data records of tshark's decode, skipping options records (whose
// sampling rates and boot times it keeps to compute the expected rate of later flows).
func tsharkFlows(t testing.TB, pkts []*jnode, dgrams []datagram, undecoded *int) []tsharkFlow {
	t.Helper()
	if len(pkts) != len(dgrams) {
		t.Fatalf("tshark sees %d packets, we read %d", len(pkts), len(dgrams))
	}
	optionsTemplates := map[string]bool{}
	opts := map[string]*optionsState{}
	var res []tsharkFlow
	for i, cf := range pkts {
		if cf == nil {
			t.Fatalf("packet %d: tshark decoded no cflow layer", i)
		}
		hdr := map[string][]string{}
		for _, k := range cf.kids {
			if k.leaf {
				hdr[k.key] = append(hdr[k.key], k.val)
			} else if strings.HasPrefix(k.key, "cflow.") {
				k.leaves(hdr)
			}
		}
		tf := tsharkFlow{exporter: dgrams[i].src, version: atoi(first(hdr, "cflow.version"))}
		switch tf.version {
		case 5:
			tf.domain = uint32(atoi(first(hdr, "cflow.engine_type"))<<8 | atoi(first(hdr, "cflow.engine_id")))
			tf.exportMs = int64(atoi(first(hdr, "cflow.unix_secs")))*1000 + int64(atoi(first(hdr, "cflow.unix_nsecs"))/1e6)
			tf.uptimeMs = uint32(secondsToMs(first(hdr, "cflow.sysuptime")))
			tf.rate = uint32(atoi(first(hdr, "cflow.samplerate")))
		case 9:
			tf.domain = uint32(atoi(first(hdr, "cflow.source_id")))
			tf.exportMs = int64(atoi(first(hdr, "cflow.unix_secs"))) * 1000
			tf.uptimeMs = uint32(secondsToMs(first(hdr, "cflow.sysuptime")))
		case 10:
			tf.domain = uint32(atoi(first(hdr, "cflow.od_id")))
			tf.exportMs = int64(atoi(first(hdr, "cflow.exporttime"))) * 1000
		default:
			t.Fatalf("packet %d: version %d", i, tf.version)
		}
		domKey := fmt.Sprintf("%s/%d/%d", tf.exporter, tf.version, tf.domain)
		if opts[domKey] == nil {
			opts[domKey] = &optionsState{samplers: map[uint64]uint32{}}
		}
		st := opts[domKey]
		// Templates first, as the decoder does.
		for _, set := range cf.kids {
			if set.leaf {
				continue
			}
			setID := 0
			if l := set.child("cflow.flowset_id"); l != nil {
				setID = atoi(l.val)
			}
			if setID == 1 || setID == 3 {
				for _, tpl := range set.kids {
					if l := tpl.child("cflow.template_id"); l != nil {
						optionsTemplates[fmt.Sprintf("%s/%s", domKey, l.val)] = true
					}
				}
			}
		}
		for pass := range 2 {
			for si, set := range cf.kids {
				if set.leaf {
					continue
				}
				if tf.version == 5 && pass == 1 && strings.HasPrefix(set.key, "pdu ") {
					f := tf
					f.fields = map[string][]string{}
					set.leaves(f.fields)
					f.where = fmt.Sprintf("packet %d %s", i, set.key)
					res = append(res, f)
					continue
				}
				l := set.child("cflow.flowset_id")
				if l == nil || atoi(l.val) < 256 {
					continue
				}
				isOptions := optionsTemplates[fmt.Sprintf("%s/%s", domKey, l.val)]
				if isOptions != (pass == 0) {
					continue
				}
				if pass == 1 && !hasFlows(&set) {
					*undecoded++ // tshark saw this data set before its template
				}
				for _, rec := range set.kids {
					if !strings.HasPrefix(rec.key, "Flow ") {
						continue
					}
					fields := map[string][]string{}
					rec.leaves(fields)
					if isOptions {
						if v := first(fields, "cflow.sys_init_time"); v != "" {
							st.sysInit = parseTshark(t, v)
						}
						if rate := rateFrom(fields); rate > 0 {
							key := anySampler
							if sid, ok := samplerFrom(fields); ok {
								key = sid
							}
							st.samplers[key] = rate
						}
						continue
					}
					f := tf
					f.fields = fields
					f.where = fmt.Sprintf("packet %d set %d %s", i, si, rec.key)
					f.sysInit = st.sysInit
					f.rate = expectedRate(st, fields)
					res = append(res, f)
				}
			}
		}
	}
	return res
}

func hasFlows(set *jnode) bool {
	for _, k := range set.kids {
		if strings.HasPrefix(k.key, "Flow ") {
			return true
		}
	}
	return false
}

// last is the last value of a field: when a template repeats an IE (Huawei: outer and inner
// ports), the decoder keeps the last one, as pmacct does.
func last(m map[string][]string, key string) string {
	if v := m[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func first(m map[string][]string, key string) string {
	if v := m[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func atoi(s string) int { return int(u64(s)) }

// u64 parses tshark's decimal or 0x-prefixed hexadecimal numbers (never octal: "011" is 11).
func u64(s string) uint64 {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		n, _ := strconv.ParseUint(h, 16, 64)
		return n
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// secondsToMs parses tshark's "123.456000000" seconds.
func secondsToMs(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	ms := int64(u64(sec)) * 1000
	if len(frac) >= 3 {
		ms += int64(u64(frac[:3]))
	}
	return ms
}

// parseTshark parses tshark's absolute times: "Feb 28, 2023 09:46:01.088000000 UTC".
func parseTshark(t testing.TB, s string) int64 {
	tm, err := time.Parse("Jan _2, 2006 15:04:05.999999999 MST", s)
	if err != nil {
		t.Fatalf("tshark time %q: %v", s, err)
	}
	return tm.UnixMilli()
}

func samplerFrom(f map[string][]string) (uint64, bool) {
	for _, k := range []string{"cflow.sampler_id", "cflow.selector_id"} {
		if v := first(f, k); v != "" {
			return uint64(uint32(u64(v))), true
		}
	}
	return 0, false
}

// rateFrom is the sampling rate a record states, the way an IPFIX reader derives it.
func rateFrom(f map[string][]string) uint32 {
	if v := u64(first(f, "cflow.sampling_interval")); v > 0 {
		return uint32(v)
	}
	if v := u64(first(f, "cflow.sampler_random_interval")); v > 0 {
		return uint32(v)
	}
	if size, pop := u64(first(f, "cflow.sampling_size")), u64(first(f, "cflow.sampling_population")); size > 0 && pop > 0 {
		return uint32(pop / size)
	}
	if iv := u64(first(f, "cflow.sampling_packet_interval")); iv > 0 {
		return uint32((iv + u64(first(f, "cflow.sampling_packet_space"))) / iv)
	}
	return 0
}

func expectedRate(st *optionsState, f map[string][]string) uint32 {
	if r := rateFrom(f); r > 0 {
		return r
	}
	fallback := st.samplers[anySampler]
	if _, ok := st.samplers[anySampler]; !ok && len(st.samplers) == 1 {
		for _, r := range st.samplers {
			fallback = r
		}
	}
	if sid, ok := samplerFrom(f); ok {
		if r, ok := st.samplers[sid]; ok {
			return r
		}
	}
	return fallback
}

// compareFlows checks our records against tshark's, one by one, on every field tshark shows.
// When tshark could not decode some data sets (they came before their template in the same
// datagram, which the decoder handles and tshark does not), tshark's records must appear in ours
// in the same order, with more of ours.
func compareFlows(t *testing.T, got *flow.Batch, want []tsharkFlow, tsharkMissed bool) {
	t.Helper()
	if tsharkMissed {
		if got.Len() <= len(want) {
			t.Errorf("tshark missed data sets, yet we decoded %d records and it %d", got.Len(), len(want))
		}
		j := 0
		for i := 0; i < got.Len() && j < len(want); i++ {
			if len(diffFlow(t, got.Record(i), want[j])) == 0 {
				j++
			}
		}
		if j < len(want) {
			t.Errorf("tshark record %d (%s) not found in order among ours: %v", j, want[j].where, diffFlow(t, got.Record(min(j, got.Len()-1)), want[j]))
		}
		return
	}
	if got.Len() != len(want) {
		t.Errorf("decoded %d records, tshark %d", got.Len(), len(want))
	}
	if len(want) == 0 {
		t.Fatal("tshark decoded no flow: nothing compared")
	}
	errs := 0
	for i := range min(got.Len(), len(want)) {
		for _, e := range diffFlow(t, got.Record(i), want[i]) {
			if errs++; errs <= 20 {
				t.Errorf("record %d (%s): %s", i, want[i].where, e)
			}
		}
	}
	if errs > 20 {
		t.Errorf("... %d differences in all", errs)
	}
}

// diffFlow lists the fields where r differs from tshark's decode.
func diffFlow(t testing.TB, r flow.Record, w tsharkFlow) []string {
	var diffs []string
	f := w.fields
	check := func(name string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, tshark %v", name, got, want))
		}
	}
	num := func(name string, got uint64, keys ...string) {
		for _, k := range keys {
			if v := last(f, k); v != "" {
				check(name, got, u64(v))
				return
			}
		}
	}
	addr := func(name string, got netip.Addr, keys ...string) {
		var cands []netip.Addr
		for _, k := range keys {
			for _, v := range f[k] {
				a, err := netip.ParseAddr(v)
				if err != nil {
					diffs = append(diffs, fmt.Sprintf("%s: tshark address %q", name, v))
					return
				}
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 {
			return
		}
		// The last address set wins (SRv6 and tunnel templates repeat the IE: pmacct also
		// keeps the last), but an unset one does not replace one that is set.
		want := cands[0]
		for _, a := range cands {
			if !a.IsUnspecified() {
				want = a
			}
		}
		if want.IsUnspecified() && got.IsUnspecified() {
			return // both families unset: either zero address will do
		}
		check(name, got, want)
	}
	check("Exporter", r.Exporter, w.exporter)
	check("ObsDomain", r.ObsDomain, w.domain)
	addr("SrcAddr", r.SrcAddr, "@src")
	addr("DstAddr", r.DstAddr, "@dst")
	if first(f, "@nexthop") != "" {
		addr("NextHop", r.NextHop, "@nexthop")
	} else {
		addr("NextHop", r.NextHop, "@bgpnexthop")
	}
	num("SrcPort", uint64(r.SrcPort), "cflow.srcport")
	num("DstPort", uint64(r.DstPort), "cflow.dstport")
	num("Proto", uint64(r.Proto), "cflow.protocol")
	if v := last(f, "cflow.tcpflags"); v != "" {
		check("TCPFlags", r.TCPFlags, uint8(u64(v)))
	}
	num("ToS", uint64(r.ToS), "cflow.tos")
	if v := first(f, "cflow.octets"); v != "" { // the first: reverse-direction IEs follow
		check("Bytes", r.Bytes, u64(v))
	}
	if v := first(f, "cflow.packets"); v != "" {
		check("Packets", r.Packets, u64(v))
	}
	num("InIf", uint64(r.InIf), "cflow.inputint")
	num("OutIf", uint64(r.OutIf), "cflow.outputint")
	num("SrcAS", uint64(r.SrcAS), "cflow.srcas")
	num("DstAS", uint64(r.DstAS), "cflow.dstas")
	num("SrcMask", uint64(r.SrcMask), "cflow.srcmask", "cflow.srcmaskv6")
	num("DstMask", uint64(r.DstMask), "cflow.dstmask", "cflow.dstmaskv6")
	num("VLAN", uint64(r.VLAN), "cflow.vlanid", "cflow.dot1q_vlan_id")
	num("SamplerID", uint64(r.SamplerID), "cflow.sampler_id", "cflow.selector_id")
	if v := first(f, "cflow.mpls_label"); v != "" { // label 1, the top of the stack
		check("MPLSLabel", r.MPLSLabel, u64(v))
	}
	if v := first(f, "cflow.direction"); v != "" {
		want := uint64(0) // 0xFF and other values: unknown
		if d := u64(v); d <= 1 {
			want = d + 1
		}
		check("Direction", r.Direction, want)
	}
	if v := first(f, "cflow.forwarding_status"); v != "" {
		code := uint64(0)
		for _, k := range []string{"cflow.forwarding_status_forward_code", "cflow.forwarding_status_drop_code",
			"cflow.forwarding_status_consume_code", "cflow.forwarding_status_unknown_code"} {
			if c := first(f, k); c != "" {
				code = u64(c)
			}
		}
		check("ForwardingStatus", r.ForwardingStatus, u64(v)<<6|code)
	}
	// ICMP type and code: from the ICMP fields, else (v5, v9, and zero fields) the destination port.
	icmpT, icmpC := uint64(0), uint64(0)
	if v := first(f, "cflow.icmp_type_code_ipv4"); v != "" {
		icmpT, icmpC = u64(v)>>8, u64(v)&0xFF
	}
	if v := first(f, "cflow.icmp_ipv6_type"); v != "" {
		icmpT, icmpC = u64(v), u64(first(f, "cflow.icmp_ipv6_code"))
	}
	if proto := u64(last(f, "cflow.protocol")); icmpT == 0 && icmpC == 0 && (proto == 1 || proto == 58) {
		port := u64(last(f, "cflow.dstport"))
		icmpT, icmpC = port>>8, port&0xFF
	}
	check("ICMPType", r.ICMPType, icmpT)
	check("ICMPCode", r.ICMPCode, icmpC)
	check("SamplingRate", r.SamplingRate, w.rate)
	// Times.
	startWant, endWant := w.exportMs, w.exportMs
	if v := first(f, "cflow.abstimestart"); v != "" {
		startWant = parseTshark(t, v)
	}
	if v := first(f, "cflow.abstimeend"); v != "" {
		endWant = parseTshark(t, v)
	}
	relative := func(v string) int64 {
		ms := secondsToMs(v)
		if w.version != 10 {
			return w.exportMs - int64(int32(w.uptimeMs-uint32(ms)))
		}
		sysInit := w.sysInit
		if s := first(f, "cflow.sys_init_time"); s != "" {
			sysInit = parseTshark(t, s)
		}
		if sysInit == 0 {
			return w.exportMs
		}
		return sysInit + ms
	}
	if v := first(f, "cflow.timestart"); v != "" {
		startWant = relative(v)
	}
	if v := first(f, "cflow.timeend"); v != "" {
		endWant = relative(v)
	}
	check("StartMs", r.StartMs, startWant)
	check("EndMs", r.EndMs, endWant)
	return diffs
}
