package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"yocho/internal/flow"
)

// zeekDefaultFields is conn.log's column order when a file has no #fields header.
var zeekDefaultFields = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
	"service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
	"missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"}

// zeekConn is one connection, whichever way it was written.
type zeekConn struct {
	ts                 float64
	orig, resp         netip.Addr
	origPort, respPort uint64
	proto              string
	duration           float64
	origBytes          uint64 // IP bytes when known, else payload bytes
	respBytes          uint64
	origPkts, respPkts uint64
	history            string
}

// readZeek reads a conn.log: TSV with Zeek's header lines, or JSON lines.
func (im *Importer) readZeek(r *bufio.Reader, e *emitter) error {
	sep := []byte{'\t'}
	unset := "-"
	col := map[string]int{}
	for i, f := range zeekDefaultFields {
		col[f] = i
	}
	var fields [][]byte
	return readLines(r, &e.st, func(line []byte) error {
		if len(line) == 0 {
			return nil
		}
		if line[0] == '#' {
			switch {
			case bytes.HasPrefix(line, []byte("#separator ")):
				if s, ok := unescapeZeek(string(line[len("#separator "):])); ok && s != "" {
					sep = []byte(s)
				}
			case bytes.HasPrefix(line, []byte("#unset_field")):
				if f := bytes.Split(line, sep); len(f) == 2 {
					unset = string(f[1])
				}
			case bytes.HasPrefix(line, []byte("#fields")):
				col = map[string]int{}
				for i, f := range bytes.Split(line, sep)[1:] {
					col[string(f)] = i
				}
			}
			return nil
		}
		var c zeekConn
		var ok bool
		if line[0] == '{' {
			c, ok = parseZeekJSON(line)
		} else {
			fields = splitInto(fields[:0], line, sep)
			c, ok = parseZeekTSV(fields, col, unset)
		}
		if !ok {
			e.st.drop("zeek_bad_line")
			return nil
		}
		return im.emitConn(&c, e)
	})
}

func splitInto(dst [][]byte, line, sep []byte) [][]byte {
	for {
		i := bytes.Index(line, sep)
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+len(sep):]
	}
}

// unescapeZeek reads "\x09" style escapes.
func unescapeZeek(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

func parseZeekTSV(f [][]byte, col map[string]int, unset string) (zeekConn, bool) {
	get := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(f) {
			return ""
		}
		v := string(f[i])
		if v == unset || v == "(empty)" {
			return ""
		}
		return v
	}
	var c zeekConn
	var err error
	if c.ts, err = strconv.ParseFloat(get("ts"), 64); err != nil {
		return c, false
	}
	if c.orig, err = netip.ParseAddr(get("id.orig_h")); err != nil {
		return c, false
	}
	if c.resp, err = netip.ParseAddr(get("id.resp_h")); err != nil {
		return c, false
	}
	c.origPort, _ = strconv.ParseUint(get("id.orig_p"), 10, 16)
	c.respPort, _ = strconv.ParseUint(get("id.resp_p"), 10, 16)
	c.proto = get("proto")
	c.duration, _ = strconv.ParseFloat(get("duration"), 64)
	c.origPkts, _ = strconv.ParseUint(get("orig_pkts"), 10, 64)
	c.respPkts, _ = strconv.ParseUint(get("resp_pkts"), 10, 64)
	c.origBytes = firstUint(get("orig_ip_bytes"), get("orig_bytes"))
	c.respBytes = firstUint(get("resp_ip_bytes"), get("resp_bytes"))
	c.history = get("history")
	return c, true
}

func firstUint(vals ...string) uint64 {
	for _, v := range vals {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// zeekJSON is conn.log as Zeek's JSON writer puts it (ts as seconds or ISO 8601).
type zeekJSON struct {
	TS          json.RawMessage `json:"ts"`
	OrigH       string          `json:"id.orig_h"`
	OrigP       uint64          `json:"id.orig_p"`
	RespH       string          `json:"id.resp_h"`
	RespP       uint64          `json:"id.resp_p"`
	Proto       string          `json:"proto"`
	Duration    float64         `json:"duration"`
	OrigBytes   *uint64         `json:"orig_bytes"`
	RespBytes   *uint64         `json:"resp_bytes"`
	OrigIPBytes *uint64         `json:"orig_ip_bytes"`
	RespIPBytes *uint64         `json:"resp_ip_bytes"`
	OrigPkts    uint64          `json:"orig_pkts"`
	RespPkts    uint64          `json:"resp_pkts"`
	History     string          `json:"history"`
}

func parseZeekJSON(line []byte) (zeekConn, bool) {
	var j zeekJSON
	var c zeekConn
	if err := json.Unmarshal(line, &j); err != nil {
		return c, false
	}
	var s string
	if err := json.Unmarshal(j.TS, &c.ts); err != nil {
		if json.Unmarshal(j.TS, &s) != nil {
			return c, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return c, false
		}
		c.ts = float64(t.UnixNano()) / 1e9
	}
	var err1, err2 error
	c.orig, err1 = netip.ParseAddr(j.OrigH)
	c.resp, err2 = netip.ParseAddr(j.RespH)
	if err1 != nil || err2 != nil || j.OrigP > math.MaxUint16 || j.RespP > math.MaxUint16 {
		return c, false
	}
	c.origPort, c.respPort, c.proto, c.duration = j.OrigP, j.RespP, j.Proto, j.Duration
	c.origPkts, c.respPkts, c.history = j.OrigPkts, j.RespPkts, j.History
	c.origBytes = firstPtr(j.OrigIPBytes, j.OrigBytes)
	c.respBytes = firstPtr(j.RespIPBytes, j.RespBytes)
	return c, true
}

func firstPtr(ps ...*uint64) uint64 {
	for _, p := range ps {
		if p != nil {
			return *p
		}
	}
	return 0
}

// emitConn turns one connection into one record per direction that carried packets: the
// originator's always (Zeek logs a connection because the originator sent something), the
// responder's when it answered.
func (im *Importer) emitConn(c *zeekConn, e *emitter) error {
	if math.IsNaN(c.ts) || math.IsInf(c.ts, 0) || c.ts < 0 || c.ts > 1e11 || c.duration < 0 || c.duration > 1e9 || math.IsNaN(c.duration) {
		e.st.drop("zeek_bad_time")
		return nil
	}
	var proto uint8
	switch c.proto {
	case "tcp":
		proto = 6
	case "udp":
		proto = 17
	case "icmp":
		proto = 1
		if c.orig.Is6() && !c.orig.Is4In6() {
			proto = 58
		}
	default:
		e.st.drop("zeek_unknown_proto")
		return nil
	}
	start := int64(math.Round(c.ts * 1000))
	end := start + int64(math.Round(c.duration*1000))
	origFlags, respFlags := historyFlags(c.history)
	r := flow.Record{
		ReceivedMs: end, StartMs: start, EndMs: end, Exporter: im.cfg.Exporter,
		SamplingRate: im.cfg.SamplingRate, SrcAddr: c.orig.Unmap(), DstAddr: c.resp.Unmap(), Proto: proto,
		Packets: max(c.origPkts, 1), Bytes: c.origBytes, TCPFlags: origFlags,
	}
	if proto == 1 || proto == 58 {
		// Zeek writes an ICMP message's type as the originator port and its code as the responder's.
		r.ICMPType, r.ICMPCode = uint8(c.origPort), uint8(c.respPort)
	} else {
		r.SrcPort, r.DstPort = uint16(c.origPort), uint16(c.respPort)
	}
	if err := e.add(&r); err != nil {
		return err
	}
	if c.respPkts == 0 {
		return nil
	}
	r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
	r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
	r.Packets, r.Bytes, r.TCPFlags = c.respPkts, c.respBytes, respFlags
	return e.add(&r)
}

// historyFlags turns a Zeek history ("ShADadFf") into the TCP flags each side sent: upper case
// letters are the originator's, lower case the responder's.
func historyFlags(h string) (orig, resp uint8) {
	for i := 0; i < len(h); i++ {
		c := h[i]
		var f uint8
		switch c | 0x20 {
		case 's':
			f = 0x02
		case 'h':
			f = 0x12
		case 'a':
			f = 0x10
		case 'd':
			f = 0x18
		case 'f':
			f = 0x11
		case 'r':
			f = 0x04
		}
		if c >= 'A' && c <= 'Z' {
			orig |= f
		} else {
			resp |= f
		}
	}
	return orig, resp
}
