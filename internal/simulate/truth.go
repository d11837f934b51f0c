package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Truth is one injected event, as the simulator knows it: a DDoS attack, a botnet's C&C
// activity, a scan, or a benign surge (kind "benign") that no detector should report.
// Times are in the simulated clock (the flow timestamps), except FirstSentAt (wall clock).
type Truth struct {
	ID        string       `json:"id"`   // the scenario entry's name
	Kind      string       `json:"kind"` // ddos | cnc | scan | benign
	Vector    string       `json:"vector"`
	Direction string       `json:"direction,omitempty"` // incoming | outgoing
	Targets   []netip.Addr `json:"targets,omitempty"`   // attacked hosts (a sample of them for a prefix)
	Prefix    string       `json:"prefix,omitempty"`    // carpet-bombed prefix
	Servers   []Endpoint   `json:"servers,omitempty"`   // C&C servers
	Bots      []netip.Addr `json:"bots,omitempty"`      // infected subscribers (botnet, scanners, outgoing attack sources)
	Sources   int          `json:"sources,omitempty"`   // distinct sources; 0 for random spoofed ones
	Spoofed   bool         `json:"spoofed,omitempty"`
	Ports     []uint16     `json:"ports,omitempty"`
	Start     time.Time    `json:"start"`
	End       time.Time    `json:"end"`
	BPS       float64      `json:"bps,omitempty"` // true (unsampled) rate while active
	PPS       float64      `json:"pps,omitempty"`
	Exporters []string     `json:"exporters,omitempty"`
	// FirstSentAt is when the first export datagram holding one of its records was sent.
	FirstSentAt *time.Time `json:"first_sent_at,omitempty"`
	Records     uint64     `json:"records"` // flow records (sFlow: samples) sent for it
}

// Endpoint is a server: address, port and transport protocol.
type Endpoint struct {
	Address netip.Addr `json:"address"`
	Port    uint16     `json:"port"`
	Proto   string     `json:"proto"`
}

// WriteTruth writes one JSON line per truth.
func WriteTruth(w io.Writer, truths []Truth) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range truths {
		if err := enc.Encode(&truths[i]); err != nil {
			return fmt.Errorf("truth %s: %w", truths[i].ID, err)
		}
	}
	return bw.Flush()
}

// ReadTruth reads the JSON lines WriteTruth writes; blank lines are skipped.
func ReadTruth(r io.Reader) ([]Truth, error) {
	var out []Truth
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var t Truth
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("truth line %d: %w", line, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
