package intel

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Parse reads a feed's content. confidence is given to indicators that carry none. rejected
// counts the entries that were not usable, by reason; err is set only when the file as a whole
// is unreadable (bad JSON, not a bundle...).
func Parse(f Format, data []byte, confidence int) (inds []Indicator, rejected map[string]int, err error) {
	rejected = map[string]int{}
	switch f {
	case FormatList:
		inds = parseList(data, confidence, rejected)
	case FormatCSV:
		inds, err = parseCSV(data, confidence, rejected)
	case FormatSTIX:
		inds, err = parseSTIX(data, confidence, rejected)
	case FormatHoneypot:
		inds = parseHoneypot(data, confidence, rejected)
	default:
		err = fmt.Errorf("unknown feed format %q", f)
	}
	return inds, rejected, err
}

// Classify reads one indicator as written in feeds: an address, a prefix, a domain, an
// address:port, or a URL (its host); "[.]" defanging is undone.
func Classify(s string) (Kind, string, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "[.]", "."))
	if s == "" {
		return "", "", false
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(strings.Replace(s, "hxxp", "http", 1))
		if err != nil || u.Hostname() == "" {
			return "", "", false
		}
		s = u.Hostname()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return KindAddr, a.Unmap().WithZone("").String(), true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		if p.IsSingleIP() {
			return KindAddr, p.Addr().String(), true
		}
		return KindPrefix, p.String(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return KindAddr, ap.Addr().Unmap().String(), true
	}
	if h, _, err := splitHostPort(s); err == nil {
		s = h
	}
	if d, ok := domain(s); ok {
		return KindDomain, d, true
	}
	return "", "", false
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", errors.New("no port")
	}
	if _, err := strconv.ParseUint(s[i+1:], 10, 16); err != nil {
		return "", "", err
	}
	return s[:i], s[i+1:], nil
}

// domain checks s is a hostname with at least two labels and a non-numeric top label.
func domain(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	top := labels[len(labels)-1]
	if _, err := strconv.Atoi(top); err == nil {
		return "", false
	}
	return s, true
}

func addInd(out []Indicator, s string, conf int, name string, rejected map[string]int) []Indicator {
	k, v, ok := Classify(s)
	if !ok {
		rejected["not_an_indicator"]++
		return out
	}
	return append(out, Indicator{Kind: k, Value: v, Confidence: clampConf(conf), Name: name})
}

func clampConf(c int) int { return max(0, min(100, c)) }

func parseList(data []byte, conf int, rejected map[string]int) []Indicator {
	var out []Indicator
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		out = addInd(out, fields[0], conf, "", rejected)
	}
	if sc.Err() != nil {
		rejected["line_too_long"]++
	}
	return out
}

var csvIndicatorColumns = []string{"indicator", "ioc", "ip", "ip_address", "dst_ip", "ipaddress", "value", "domain", "host", "hostname", "url"}

func parseCSV(data []byte, conf int, rejected map[string]int) ([]Indicator, error) {
	// Drop comment lines ourselves: encoding/csv only knows a comment rune at a row's start and
	// abuse.ch-style headers are comments too.
	var body bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		body.Write(line)
	}
	r := csv.NewReader(&body)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.TrimLeadingSpace = true
	col, confCol, nameCol := 0, -1, -1
	first := true
	var out []Indicator
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rejected["bad_csv_row"]++
			if _, ok := err.(*csv.ParseError); ok {
				continue
			}
			return out, err
		}
		if first {
			first = false
			if _, _, ok := Classify(rec[0]); !ok && isHeader(rec) {
				col = 0
				for i, h := range rec {
					h = strings.ToLower(strings.TrimSpace(h))
					for _, want := range csvIndicatorColumns {
						if h == want {
							col = i
							goto found
						}
					}
				}
			found:
				for i, h := range rec {
					switch strings.ToLower(strings.TrimSpace(h)) {
					case "confidence", "score":
						confCol = i
					case "malware", "family", "name", "threat", "malware_family":
						nameCol = i
					}
				}
				continue
			}
		}
		if col >= len(rec) {
			rejected["short_row"]++
			continue
		}
		c := conf
		if confCol >= 0 && confCol < len(rec) {
			if v, err := strconv.Atoi(strings.TrimSpace(rec[confCol])); err == nil {
				c = v
			}
		}
		name := ""
		if nameCol >= 0 && nameCol < len(rec) {
			name = strings.TrimSpace(rec[nameCol])
		}
		out = addInd(out, rec[col], c, name, rejected)
	}
	return out, nil
}

// isHeader: a row none of whose cells is an indicator.
func isHeader(rec []string) bool {
	for _, c := range rec {
		if _, _, ok := Classify(c); ok {
			return false
		}
	}
	return true
}

// stixBundle is the part of a STIX 2.1 bundle we read.
type stixBundle struct {
	Type    string            `json:"type"`
	Objects []json.RawMessage `json:"objects"`
}

type stixObject struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Pattern     string `json:"pattern"`
	PatternType string `json:"pattern_type"`
	Confidence  *int   `json:"confidence"`
	Revoked     bool   `json:"revoked"`
}

// stixComparison is one "[type:value = 'x']" or "[type:value ISSUBSET 'x']" comparison.
var stixComparison = regexp.MustCompile(`^\s*\[?\s*(ipv4-addr|ipv6-addr|domain-name):value\s+(=|ISSUBSET)\s+'((?:[^'\\]|\\.)*)'\s*\]?\s*$`)

func parseSTIX(data []byte, conf int, rejected map[string]int) ([]Indicator, error) {
	var b stixBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("not a STIX bundle: %w", err)
	}
	if b.Type != "bundle" {
		return nil, fmt.Errorf("not a STIX bundle: type %q", b.Type)
	}
	var out []Indicator
	for _, raw := range b.Objects {
		var o stixObject
		if err := json.Unmarshal(raw, &o); err != nil {
			rejected["bad_object"]++
			continue
		}
		if o.Type != "indicator" {
			continue
		}
		if o.Revoked {
			rejected["revoked"]++
			continue
		}
		if o.PatternType != "" && o.PatternType != "stix" {
			rejected["pattern_type"]++
			continue
		}
		c := conf
		if o.Confidence != nil {
			c = *o.Confidence
		}
		// A pattern of OR-ed simple comparisons; AND, FOLLOWEDBY and other objects are not
		// indicators of one server and are skipped whole.
		terms, ok := splitOr(o.Pattern)
		if !ok {
			rejected["complex_pattern"]++
			continue
		}
		for _, t := range terms {
			m := stixComparison.FindStringSubmatch(t)
			if m == nil {
				rejected["complex_pattern"]++
				continue
			}
			v := strings.ReplaceAll(m[3], `\'`, `'`)
			k, val, ok := Classify(v)
			want := map[string]Kind{"ipv4-addr": KindAddr, "ipv6-addr": KindAddr, "domain-name": KindDomain}[m[1]]
			if !ok || (k != want && !(want == KindAddr && k == KindPrefix)) {
				rejected["not_an_indicator"]++
				continue
			}
			out = append(out, Indicator{Kind: k, Value: val, Confidence: clampConf(c), Name: o.Name})
		}
	}
	return out, nil
}

// splitOr splits a pattern at top-level OR (outside quotes); false when it has AND or an
// observation operator.
func splitOr(p string) ([]string, bool) {
	var terms []string
	inQuote, start := false, 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '\'':
			inQuote = !inQuote
		case !inQuote:
			rest := p[i:]
			if hasWord(rest, "AND") || hasWord(rest, "FOLLOWEDBY") || hasWord(rest, "WITHIN") || hasWord(rest, "REPEATS") {
				return nil, false
			}
			if hasWord(rest, "OR") {
				terms = append(terms, p[start:i])
				start = i + 2
				i++
			}
		}
	}
	terms = append(terms, p[start:])
	for i, t := range terms {
		t = strings.TrimSpace(t)
		// Brackets around the whole observation or each comparison are both allowed.
		t = strings.TrimPrefix(strings.TrimSuffix(t, "]"), "[")
		terms[i] = t
	}
	return terms, true
}

// hasWord reports whether s starts with word as a whole word.
func hasWord(s, word string) bool {
	if !strings.HasPrefix(s, word) {
		return false
	}
	if len(s) > len(word) {
		c := s[len(word)]
		return c == ' ' || c == '\t' || c == '[' || c == '\n'
	}
	return true
}

func parseHoneypot(data []byte, conf int, rejected map[string]int) []Indicator {
	var out []Indicator
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			rejected["bad_json_line"]++
			continue
		}
		for _, key := range []string{"url", "c2", "cnc", "cc"} {
			s, ok := ev[key].(string)
			if !ok || s == "" {
				continue
			}
			k, v, ok := Classify(s)
			if !ok {
				rejected["not_an_indicator"]++
				continue
			}
			if seen[v] {
				continue
			}
			seen[v] = true
			name, _ := ev["eventid"].(string)
			out = append(out, Indicator{Kind: k, Value: v, Confidence: clampConf(conf), Name: name})
		}
	}
	if sc.Err() != nil {
		rejected["line_too_long"]++
	}
	return out
}
