package cnc

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"yocho/internal/intel"
)

// The score's parts and the most each contributes. Their maxima add up to more than 100: the sum
// is capped, and no part alone reaches the default alert score.
const (
	PartClients     = "clients"      // distinct subscriber clients
	PartGrowth      = "growth"       // new clients coming faster than in the previous hour
	PartRegularity  = "regularity"   // steady contacts across the population, each client briefly
	PartSimilarity  = "similarity"   // contacts alike in size, packets and duration
	PartFlatProfile = "flat_profile" // as many contacts at night as by day
	PartNoAnswer    = "no_answer"    // contacts that got no answer
	PartRarity      = "rarity"       // few of all subscribers contact it
	PartNewness     = "newness"      // first seen well after observation began
	PartIoTClients  = "iot_clients"  // clients that answer or scan telnet
	PartPortRole    = "port_role"    // the server port's usual role
	PartBeacon      = "beacon"       // a client beacons to it (unsampled data)
	PartIntel       = "intel"        // listed by an indicator feed
)

var partMax = map[string]float64{
	PartClients: 25, PartGrowth: 5, PartRegularity: 10, PartSimilarity: 25, PartFlatProfile: 5,
	PartNoAnswer: 20, PartRarity: 10, PartNewness: 5, PartIoTClients: 10, PartPortRole: 10,
	PartBeacon: 40, PartIntel: 20,
}

// PartMax is the most a part can contribute.
func PartMax(name string) float64 { return partMax[name] }

// Candidate is one endpoint as a C&C candidate, with the evidence behind its score.
type Candidate struct {
	Address   netip.Addr         `json:"address"`
	Port      uint16             `json:"port"`
	Proto     string             `json:"proto"`
	Score     float64            `json:"score"`
	Parts     map[string]float64 `json:"parts"`
	Clients   int                `json:"clients"`
	Contacts  uint64             `json:"contacts"`
	FirstSeen time.Time          `json:"first_seen"`
	LastSeen  time.Time          `json:"last_seen"`
	Alert     bool               `json:"alert"`
	// Evidence says in words what each non-zero part saw.
	Evidence []string      `json:"evidence"`
	Beacon   *Beacon       `json:"beacon,omitempty"`
	Intel    []intel.Match `json:"intel,omitempty"`
	// SampleClients are a few of the subscriber clients (the first ones seen).
	SampleClients []netip.Addr `json:"sample_clients,omitempty"`
}

// Endpoint is the candidate's "address:port/proto" name, as the API's paths use it.
func (c *Candidate) Endpoint() string {
	return netip.AddrPortFrom(c.Address, c.Port).String() + "/" + c.Proto
}

// ProtoName is "tcp", "udp", "icmp", "icmpv6" (as the store names them) or the number.
func ProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}

// ParseProto reads what ProtoName writes.
func ParseProto(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "ipv6-icmp", "icmp6", "icmpv6":
		return 58, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

// ParseEndpoint reads "address:port/proto" ("[v6]:port/proto" for IPv6; "/proto" defaults to tcp).
func ParseEndpoint(s string) (netip.Addr, uint16, uint8, error) {
	proto := uint8(6)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		p, ok := ParseProto(s[i+1:])
		if !ok {
			return netip.Addr{}, 0, 0, fmt.Errorf("endpoint %q: bad protocol", s)
		}
		proto, s = p, s[:i]
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, 0, 0, fmt.Errorf("endpoint %q: want address:port/proto", s)
	}
	return ap.Addr().Unmap(), ap.Port(), proto, nil
}

// evidence collects parts and their reasons; nil means only the total is wanted.
type evidence struct {
	parts  map[string]float64
	words  []string
	beacon *Beacon
	intel  []intel.Match
}

// add returns a part's points; with ev non-nil it also records them and their reason. words is
// called only then: scoring for a total formats nothing and allocates nothing.
func (ev *evidence) add(name string, share float64, words func() string) float64 {
	pts := math.Round(partMax[name]*clamp01(share)*10) / 10
	if ev != nil && pts > 0 {
		ev.parts[name] = pts
		ev.words = append(ev.words, fmt.Sprintf("%s +%.1f: ", name, pts)+words())
	}
	return pts
}

// score computes an endpoint's score; with ev non-nil it also fills its parts and reasons.
func (e *Engine) score(ep *endpoint, ev *evidence) (float64, int) {
	var d *detail
	clients := 1.0
	if ep.detail >= 0 {
		d = &e.details[ep.detail]
		clients = d.clients()
		d.approx = float32(clients)
	}
	contacts := float64(ep.contacts)
	// Population evidence needs a population: it counts fully from five clients.
	pop := clamp01((clients - 1) / 4)
	total := 0.0

	// Behaviour first: what the contacts themselves look like.
	behaviour := 0.0
	freq := &e.msgSizes[protoClass(ep.key.proto)]
	if alike, byContacts, byAnswers := similarity(&ep.sizes, &ep.replySizes, &freq[0], &freq[1]); byContacts {
		total += ev.add(PartSimilarity, pop*alike, func() string {
			a, b := ep.sizes.top2()
			words := fmt.Sprintf("two sizes (%d, %d B/packet) make %.0f%% of %d contacts (chance 2^-%.0f)", a, b,
				100*ep.sizes.topShare(), ep.sizes.n, alikeBits(&ep.sizes, &freq[0]))
			if byAnswers {
				words += ", "
				a, b := ep.replySizes.top2()
				words += fmt.Sprintf("%.0f%% of %d answers (%d, %d B/packet, chance 2^-%.0f)", 100*ep.replySizes.topShare(),
					ep.replySizes.n, a, b, alikeBits(&ep.replySizes, &freq[1]))
			}
			return words
		})
		behaviour = math.Max(behaviour, alike)
	}
	if share, n := e.noAnswer(ep); n >= 3 {
		s := share * clamp01(n/10)
		total += ev.add(PartNoAnswer, s, func() string { return fmt.Sprintf("%.0f%% of %.0f contacts got no answer", 100*share, n) })
		behaviour = math.Max(behaviour, s)
	}
	if d != nil && d.beacon != nil && d.beacon.Contacts >= e.cfg.MinPairContacts {
		b := d.beacon
		s := clamp01((b.Score - 0.5) / 0.4)
		total += ev.add(PartBeacon, s, func() string {
			return fmt.Sprintf("%s beacons every %.0fs (%d contacts, beacon score %.2f)", b.Client, b.IntervalS, b.Contacts, b.Score)
		})
		behaviour = math.Max(behaviour, s)
		if ev != nil {
			ev.beacon = b
		}
	}
	if e.ind != nil {
		if ms := e.ind.LookupAddr(ep.key.addr.addr()); len(ms) > 0 {
			best := 0.0
			for _, m := range ms {
				best = math.Max(best, float64(m.Confidence))
			}
			total += ev.add(PartIntel, best/100, func() string { return fmt.Sprintf("listed by %s (confidence %.0f)", ms[0].Source, best) })
			behaviour = math.Max(behaviour, best/100)
			if ev != nil {
				ev.intel = ms
			}
		}
	}

	// Population evidence (many, rare, steady, growing, IoT clients) says "popular among some
	// subscribers"; it says "botnet" only as far as the contacts behave like bots: it counts
	// half without such behaviour, fully with it.
	w := 0.5 + 0.5*behaviour
	total += ev.add(PartClients, w*math.Log(clients)/math.Log(32), func() string { return fmt.Sprintf("%.0f distinct subscriber clients", clients) })
	// Growth needs a population to grow from (from nothing, it is newness).
	if d != nil && e.now-e.firstMs >= 2*3600000 && d.addsPrev >= 2 && float64(d.addsCur) >= 2*float64(d.addsPrev) {
		total += ev.add(PartGrowth, w*pop, func() string {
			return fmt.Sprintf("%d new clients this hour, %d the hour before", d.addsCur, d.addsPrev)
		})
	}
	if d != nil && contacts >= 8 && d.perMinute.n >= 20 {
		m := float64(d.perMinute.mean)
		disp := 0.0
		if m > 0 {
			s := d.perMinute.std()
			disp = s * s / m // 1 for independent, steady contacts; more for bursts
		}
		steady := clamp01(1 - (disp-1)/4)
		breadth := clamp01(clients / contacts * 2)
		total += ev.add(PartRegularity, w*pop*(steady+breadth)/2, func() string {
			return fmt.Sprintf("contacts per minute vary %.1f× a steady stream's; %.2f clients per contact", disp, clients/contacts)
		})
	}
	if d != nil && e.now-e.firstMs >= 20*3600000 && contacts >= 48 {
		var h, sum float64
		for _, c := range d.hours {
			sum += float64(c)
		}
		for _, c := range d.hours {
			if c > 0 {
				p := float64(c) / sum
				h -= p * math.Log(p)
			}
		}
		flat := clamp01((h/math.Log(24) - 0.85) / 0.13)
		total += ev.add(PartFlatProfile, w*pop*flat, func() string { return fmt.Sprintf("hourly profile entropy %.2f of the most", h/math.Log(24)) })
	}
	if active := e.activeEst; active >= 50 && clients >= 2 {
		share := clients / active
		total += ev.add(PartRarity, w*pop*clamp01(1-share/0.05), func() string { return fmt.Sprintf("contacted by %.2f%% of %.0f active subscribers", 100*share, active) })
	}
	if ep.iotContacts > 0 {
		share := float64(ep.iotContacts) / contacts
		total += ev.add(PartIoTClients, w*pop*share*2, func() string {
			return fmt.Sprintf("%.0f%% of contacts from hosts that answer or scan telnet", 100*share)
		})
	}

	// Context: the endpoint's age and its port.
	if e.now-e.firstMs > e.cfg.Warmup.Milliseconds() && ep.first-e.firstMs >= e.cfg.Warmup.Milliseconds() {
		total += ev.add(PartNewness, 1, func() string {
			return fmt.Sprintf("first seen %s after observation began", time.Duration(ep.first-e.firstMs)*time.Millisecond)
		})
	}
	role := portRole(ep.key.port, ep.key.proto)
	total += ev.add(PartPortRole, roleWeight[role], func() string { return fmt.Sprintf("port %d/%s: %s", ep.key.port, ProtoName(ep.key.proto), role) })
	return math.Min(100, math.Round(total*10)/10), int(math.Round(clients))
}

// minSizes is the fewest message sizes one way (contacts or answers) on which similarity is
// judged; minSizesPerSide the fewest of each way when neither has minSizes and both ways are
// judged together.
const (
	minSizes        = 8
	minSizesPerSide = 4
)

// similarity is how alike an endpoint's messages are (0..1), from the sizes of its contacts
// and of its answers, and which of the two it judged (none: not enough sizes yet). Bots send the
// same message again and again (as in Disclosure, Bilge et al. 2012); people's requests and the
// answers to them vary. Two sizes cover at least 2/n of n messages by chance: only the share
// beyond that counts. With minSizes contacts, the contacts are judged, and the mean with the
// answers taken once those have minSizes too. Before, both ways are judged together once each has
// minSizesPerSide and they have minSizes between them, each weighted by its sizes: under 1:1000
// sampling a small botnet's contacts and answers come a few an hour each, so both are evidence
// before the contacts are enough alone. Each way counts as far as chance cannot explain it
// (alikeBits against cfreq and afreq, all endpoints' contact and answer sizes).
func similarity(contacts, answers *topSizes, cfreq, afreq *sizeFreq) (alike float64, byContacts, byAnswers bool) {
	of := func(t *topSizes, f *sizeFreq) float64 {
		s := clamp01((beyondChance(t.topShare(), t.n) - 0.3) / 0.6)
		if s == 0 {
			return 0 // varied sizes: no need to ask how likely they are
		}
		return s * clamp01((alikeBits(t, f)-minAlikeBits)/(fullAlikeBits-minAlikeBits))
	}
	switch c, a := contacts.n, answers.n; {
	case c >= minSizes && a >= minSizes:
		return (of(contacts, cfreq) + of(answers, afreq)) / 2, true, true
	case c >= minSizes:
		return of(contacts, cfreq), true, false
	case c >= minSizesPerSide && a >= minSizesPerSide && c+a >= minSizes:
		return (float64(c)*of(contacts, cfreq) + float64(a)*of(answers, afreq)) / float64(c+a), true, true
	}
	return 0, false, false
}

// minAlikeBits and fullAlikeBits bound how unlikely by chance (alikeBits) an endpoint's alike
// messages must be to count at all, and to count fully.
// Chance does better than one in 2^24 often: a million endpoints, each judged again with every
// message and on whichever two of its sizes lead, give some such draws a day. Beyond 2^-40 it
// does not.
const (
	minAlikeBits  = 24
	fullAlikeBits = 40
)

// alikeBits is how unlikely (bits) it is that the two most frequent sizes of t cover as many of
// its messages as they do if its messages were drawn from the other endpoints' (f, less t's
// own): sizes that many endpoints' messages have (a common request, a bare SYN) prove less than
// sizes of their own. Seven of eight messages in two sizes that 4 % of all have is 2^-29: it comes
// by chance among a million endpoints; eight in one size that 0.5 % have is 2^-61.
func alikeBits(t *topSizes, f *sizeFreq) float64 {
	a, b := t.top2()
	if b == 0 {
		b = a
	}
	k := uint32(math.Round(t.topShare() * float64(t.n)))
	return chanceBits(k, t.n, f.shareBesides(a, b, uint64(k), uint64(t.n)))
}

// protoClass indexes Engine.msgSizes: TCP, UDP, anything else.
func protoClass(proto uint8) int {
	switch proto {
	case 6:
		return 0
	case 17:
		return 1
	}
	return 2
}

// beyondChance rescales the share that the two most frequent of n values cover so that what
// chance alone gives (2/n) is 0 and all of them is 1.
func beyondChance(share float64, n uint32) float64 {
	c := 2 / float64(n)
	if c >= 1 {
		return 0
	}
	return clamp01((share - c) / (1 - c))
}

// noAnswer is the share of an endpoint's contacts that got no answer, and how many contacts it
// is measured on.
func (e *Engine) noAnswer(ep *endpoint) (float64, float64) {
	if ep.tcpContacts > 0 {
		return float64(ep.unanswered) / float64(ep.tcpContacts), float64(ep.tcpContacts)
	}
	// Under sampling an answer's absence proves nothing: it was likely not sampled.
	if ep.key.proto == 17 && ep.contacts > 0 && !ep.sampled {
		return clamp01(1 - float64(ep.replies)/float64(ep.contacts)), float64(ep.contacts)
	}
	return 0, 0
}

func (e *Engine) candidate(idx int32) Candidate {
	ep := &e.endpoints[idx]
	ev := &evidence{parts: map[string]float64{}}
	score, clients := e.score(ep, ev)
	return Candidate{
		Address:       ep.key.addr.addr(),
		Port:          ep.key.port,
		Proto:         ProtoName(ep.key.proto),
		Score:         score,
		Parts:         ev.parts,
		Clients:       clients,
		Contacts:      uint64(ep.contacts),
		FirstSeen:     time.UnixMilli(ep.first).UTC(),
		LastSeen:      time.UnixMilli(ep.last).UTC(),
		Alert:         score >= e.cfg.AlertScore,
		Evidence:      ev.words,
		Beacon:        ev.beacon,
		Intel:         ev.intel,
		SampleClients: e.sampleClients(ep),
	}
}

func (e *Engine) sampleClients(ep *endpoint) []netip.Addr {
	if ep.detail < 0 {
		return []netip.Addr{ep.client1.addr()}
	}
	d := &e.details[ep.detail]
	out := make([]netip.Addr, 0, d.nExact)
	for _, k := range d.exact[:d.nExact] {
		out = append(out, k.addr())
	}
	return out
}

// Candidates returns the endpoints scoring at least minScore, highest score first (then most
// clients, then most contacts), at most limit of them (0: all). It scores pending state first.
func (e *Engine) Candidates(minScore float64, limit int) []Candidate {
	e.mu.Lock()
	due := e.tick()
	defer e.raise(due)
	defer e.mu.Unlock()
	type scored struct {
		idx   int32
		score float64
		cl    int
	}
	var all []scored
	for i := range e.endpoints {
		ep := &e.endpoints[i]
		if ep.contacts == 0 {
			continue
		}
		s, cl := e.score(ep, nil)
		if s >= minScore {
			all = append(all, scored{int32(i), s, cl})
		}
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.cl, a.cl); c != 0 {
			return c
		}
		return cmp.Compare(e.endpoints[b.idx].contacts, e.endpoints[a.idx].contacts)
	})
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	out := make([]Candidate, len(all))
	for i, s := range all {
		out[i] = e.candidate(s.idx)
	}
	return out
}

// Client is one subscriber host that contacted an endpoint.
type Client struct {
	Address  netip.Addr `json:"address"`
	Customer string     `json:"customer,omitempty"`
	Contacts uint32     `json:"contacts,omitempty"`
	// FirstSeen and LastSeen are nil for clients seen before the endpoint's clients were listed.
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// Clients lists the subscriber hosts known to have contacted an endpoint, most contacts first,
// and whether the endpoint is tracked at all. Clients are listed one by one from the moment the
// endpoint's score reached ListScore; before that only its first few clients are known.
func (e *Engine) Clients(addr netip.Addr, port uint16, proto uint8) ([]Client, bool) {
	e.mu.Lock()
	due := e.tick()
	defer e.raise(due)
	defer e.mu.Unlock()
	k := epKey{addr: keyOf(addr), port: port, proto: proto}
	idx := e.find(k, k.hash())
	if idx < 0 {
		return nil, false
	}
	ep := &e.endpoints[idx]
	var out []Client
	add := func(k addrKey, st *clientStat) {
		a := k.addr()
		c := Client{Address: a}
		c.Customer, _ = e.subs.Subscriber(a)
		if st != nil {
			c.Contacts = st.contacts
			if st.first != 0 {
				f, l := time.UnixMilli(st.first).UTC(), time.UnixMilli(st.last).UTC()
				c.FirstSeen, c.LastSeen = &f, &l
			}
		}
		out = append(out, c)
	}
	switch {
	case ep.detail < 0:
		add(ep.client1, &clientStat{first: ep.first, last: ep.last, contacts: ep.contacts})
	case e.details[ep.detail].list != nil:
		for k, st := range e.details[ep.detail].list {
			add(k, st)
		}
	default:
		d := &e.details[ep.detail]
		for _, k := range d.exact[:d.nExact] {
			add(k, nil)
		}
	}
	slices.SortFunc(out, func(a, b Client) int {
		if c := cmp.Compare(b.Contacts, a.Contacts); c != 0 {
			return c
		}
		return a.Address.Compare(b.Address)
	})
	return out, true
}

// Stats are the engine's state sizes, for tests and the memory bound.
type Stats struct {
	Endpoints, Detailed, Listed, Pairs, IoTHosts int
}

// Stats reports how much state the engine holds.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sizes()
}

// sizes is Stats with e.mu held.
func (e *Engine) sizes() Stats {
	return Stats{Endpoints: len(e.endpoints), Detailed: len(e.details) - len(e.freeDetails), Listed: e.listed,
		Pairs: len(e.pairs), IoTHosts: e.iot.n}
}

// bound is the most an endpoint without a detail (one client so far) can score: no_answer as it
// stands, its port, newness, and the most an indicator gives. tick skips scoring it below the
// alert score.
func (e *Engine) bound(ep *endpoint) float64 {
	b := 10*roleWeight[portRole(ep.key.port, ep.key.proto)] + partMax[PartNewness]
	if share, n := e.noAnswer(ep); n >= 3 {
		b += partMax[PartNoAnswer] * share * clamp01(n/10)
	}
	if e.ind != nil {
		b += partMax[PartIntel]
	}
	return b + 0.1
}
