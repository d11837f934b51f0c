package importer

import (
	"bufio"
	"bytes"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"yocho/internal/flow"
)

// readNfdump reads what `nfdump -o csv` writes: a header line naming the columns (ts, te, td, sa,
// da, sp, dp, pr, flg, ipkt, ibyt, opkt, obyt, in, out, sas, das, smk, dmk, dir, nh, svln, mpls1,
// ra, ...), one flow a line, then a "Summary" section, which ends the flows.
func (im *Importer) readNfdump(r *bufio.Reader, e *emitter) error {
	var col map[string]int
	var fields [][]byte
	done := false
	return readLines(r, &e.st, func(line []byte) error {
		if done || len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		if col == nil || bytes.HasPrefix(line, []byte("ts,")) {
			if !bytes.HasPrefix(line, []byte("ts,")) {
				e.st.drop("nfdump_no_header")
				return nil
			}
			col = map[string]int{}
			for i, f := range bytes.Split(line, []byte{','}) {
				col[string(bytes.TrimSpace(f))] = i
			}
			return nil
		}
		if bytes.HasPrefix(line, []byte("Summary")) {
			done = true
			return nil
		}
		fields = splitInto(fields[:0], line, []byte{','})
		if len(fields) < len(col) {
			e.st.drop("nfdump_short_line")
			return nil
		}
		return im.nfdumpLine(fields, col, e)
	})
}

func (im *Importer) nfdumpLine(f [][]byte, col map[string]int, e *emitter) error {
	get := func(name string) string {
		if i, ok := col[name]; ok && i < len(f) {
			return strings.TrimSpace(string(f[i]))
		}
		return ""
	}
	start, ok1 := parseNfdumpTime(get("ts"), im.cfg.Location)
	end, ok2 := parseNfdumpTime(get("te"), im.cfg.Location)
	if !ok1 {
		e.st.drop("nfdump_bad_time")
		return nil
	}
	if !ok2 || end < start {
		end = start
	}
	if td, err := strconv.ParseFloat(get("td"), 64); err == nil && td >= 0 && td < 1e9 && end == start {
		end = start + int64(math.Round(td*1000))
	}
	src, err1 := netip.ParseAddr(get("sa"))
	dst, err2 := netip.ParseAddr(get("da"))
	if err1 != nil || err2 != nil {
		e.st.drop("nfdump_bad_address")
		return nil
	}
	proto, ok := parseNfdumpProto(get("pr"))
	if !ok {
		e.st.drop("nfdump_bad_protocol")
		return nil
	}
	r := flow.Record{ReceivedMs: end, StartMs: start, EndMs: end, SrcAddr: src.Unmap(), DstAddr: dst.Unmap(),
		Proto: proto, SamplingRate: im.cfg.SamplingRate, Exporter: im.cfg.Exporter}
	sp, dp := get("sp"), get("dp")
	if proto == 1 || proto == 58 {
		// nfdump prints an ICMP flow's type.code as its destination port.
		if t, c, found := strings.Cut(dp, "."); found {
			tv, _ := strconv.ParseUint(t, 10, 8)
			cv, _ := strconv.ParseUint(c, 10, 8)
			r.ICMPType, r.ICMPCode = uint8(tv), uint8(cv)
		} else if v, err := strconv.ParseUint(dp, 10, 16); err == nil {
			r.ICMPType, r.ICMPCode = uint8(v>>8), uint8(v)
		}
	} else {
		p1, err1 := strconv.ParseUint(sp, 10, 16)
		p2, err2 := strconv.ParseUint(dp, 10, 16)
		if err1 != nil || err2 != nil {
			e.st.drop("nfdump_bad_port")
			return nil
		}
		r.SrcPort, r.DstPort = uint16(p1), uint16(p2)
	}
	r.TCPFlags = parseNfdumpFlags(get("flg"))
	r.Packets, _ = strconv.ParseUint(get("ipkt"), 10, 64)
	r.Bytes, _ = strconv.ParseUint(get("ibyt"), 10, 64)
	r.InIf = parseU32(get("in"))
	r.OutIf = parseU32(get("out"))
	r.SrcAS = parseU32(get("sas"))
	r.DstAS = parseU32(get("das"))
	r.SrcMask = uint8(min(parseU32(get("smk")), 128))
	r.DstMask = uint8(min(parseU32(get("dmk")), 128))
	r.ToS = uint8(min(parseU32(get("stos")), 255))
	r.Direction = uint8(min(parseU32(get("dir")), 2))
	r.VLAN = uint16(min(parseU32(get("svln")), 4095))
	if a, err := netip.ParseAddr(get("nh")); err == nil && !a.IsUnspecified() {
		r.NextHop = a.Unmap()
	}
	if a, err := netip.ParseAddr(get("ra")); err == nil {
		r.Exporter = a.Unmap()
	}
	if v, err := strconv.ParseUint(get("eng"), 10, 32); err == nil {
		r.ObsDomain = uint32(v)
	} else if a, b, ok := strings.Cut(get("eng"), "/"); ok {
		x, _ := strconv.ParseUint(a, 10, 8)
		y, _ := strconv.ParseUint(b, 10, 8)
		r.ObsDomain = uint32(x)<<8 | uint32(y)
	}
	if m := get("mpls1"); m != "" {
		if l, _, ok := strings.Cut(m, "-"); ok {
			r.MPLSLabel = parseU32(l) & 0xfffff
		}
	}
	if r.Packets == 0 && r.Bytes == 0 {
		e.st.drop("nfdump_empty_flow")
		return nil
	}
	if err := e.add(&r); err != nil {
		return err
	}
	// Bidirectional records (NSEL, or nfdump's -B aggregation) carry the answer as out counters.
	op, _ := strconv.ParseUint(get("opkt"), 10, 64)
	ob, _ := strconv.ParseUint(get("obyt"), 10, 64)
	if op == 0 {
		return nil
	}
	r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
	r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
	r.Packets, r.Bytes, r.TCPFlags = op, ob, 0
	return e.add(&r)
}

func parseU32(s string) uint32 {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// parseNfdumpTime reads "2025-11-24 16:00:01" or "2025-11-24 16:00:01.123" in loc, or Unix
// seconds, into ms.
func parseNfdumpTime(s string, loc *time.Location) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc); err == nil {
		return t.UnixMilli(), true
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v < 1e11 {
		return int64(math.Round(v * 1000)), true
	}
	return 0, false
}

func parseNfdumpProto(s string) (uint8, bool) {
	switch strings.ToUpper(s) {
	case "TCP":
		return 6, true
	case "UDP":
		return 17, true
	case "ICMP":
		return 1, true
	case "ICMP6", "IPV6-ICMP":
		return 58, true
	case "GRE":
		return 47, true
	case "ESP":
		return 50, true
	case "SCTP":
		return 132, true
	}
	v, err := strconv.ParseUint(s, 10, 8)
	return uint8(v), err == nil
}

// parseNfdumpFlags reads "...AP.SF" (one letter a flag, CEUAPRSF) or a hex "0x1b".
func parseNfdumpFlags(s string) uint8 {
	if strings.HasPrefix(s, "0x") {
		v, _ := strconv.ParseUint(s[2:], 16, 8)
		return uint8(v)
	}
	var f uint8
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'C':
			f |= 0x80
		case 'E':
			f |= 0x40
		case 'U':
			f |= 0x20
		case 'A':
			f |= 0x10
		case 'P':
			f |= 0x08
		case 'R':
			f |= 0x04
		case 'S':
			f |= 0x02
		case 'F':
			f |= 0x01
		}
	}
	return f
}
