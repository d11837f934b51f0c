package simulate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"yocho/internal/config"
)

// Scenario is one simulation: the carrier, its exporters, its benign traffic and what attacks it.
// Durations and start offsets are in simulated time, from the start of the run.
type Scenario struct {
	Name      string          `yaml:"name"`
	Duration  config.Duration `yaml:"duration"` // length of the run in simulated time
	Seed      uint64          `yaml:"seed"`
	Carrier   Carrier         `yaml:"carrier"`
	Exporters []Exporter      `yaml:"exporters"`
	Benign    Benign          `yaml:"benign"`
	Attacks   []Attack        `yaml:"attacks"`
	Botnets   []Botnet        `yaml:"botnets"`
	Scans     []Scan          `yaml:"scans"`
}

// Carrier is the simulated network's address plan. Hosts are numbered from the start of each
// prefix; the internet is where remote servers, clients, reflectors and C&C servers live.
type Carrier struct {
	ASN             uint32          `yaml:"asn"`
	Subscribers     []config.Prefix `yaml:"subscribers"`      // broadband and mobile subscribers (v4 and v6)
	SubscriberHosts int             `yaml:"subscriber_hosts"` // active subscriber hosts per family
	Servers         []config.Prefix `yaml:"servers"`          // hosting customers' servers
	ServerHosts     int             `yaml:"server_hosts"`     // hosted servers per family
	Internet        []config.Prefix `yaml:"internet"`         // remote hosts (v4 and v6)
	InternetHosts   int             `yaml:"internet_hosts"`   // remote servers per family
	Spoofed         config.Prefix   `yaml:"spoofed"`          // random spoofed sources are drawn here
}

// Exporter is one router that exports flows.
type Exporter struct {
	Name            string          `yaml:"name"`
	Address         config.Addr     `yaml:"address"`          // source address of its datagrams (loopback)
	Protocol        string          `yaml:"protocol"`         // ipfix | netflow9 | netflow5 | sflow
	SamplingRate    uint32          `yaml:"sampling_rate"`    // 1 in N packets, 1..4096 and more
	ActiveTimeout   config.Duration `yaml:"active_timeout"`   // a long flow gives a record per period
	InactiveTimeout config.Duration `yaml:"inactive_timeout"` // an idle flow is exported after it
	TemplateRefresh config.Duration `yaml:"template_refresh"` // v9/IPFIX templates and options resent
	Loss            float64         `yaml:"loss"`             // share of datagrams lost, 0..1
	Reorder         float64         `yaml:"reorder"`          // share of datagrams swapped with the next
	Share           float64         `yaml:"share"`            // relative share of benign hosts it serves
}

// Benign is the normal traffic of the carrier.
type Benign struct {
	// FlowsPerSecond is the exported (sampled) flow records per second at the diurnal peak, as
	// exporters sampling at ReferenceSamplingRate or finer send them; an exporter sampling more
	// coarsely sends fewer (ReferenceSamplingRate/N of them), since it sees fewer of the same
	// flows. Each record stands for its sampled packets times N: volumes follow the rates.
	FlowsPerSecond float64 `yaml:"flows_per_second"`
	// ReferenceSamplingRate: see FlowsPerSecond; default 1000.
	ReferenceSamplingRate float64      `yaml:"reference_sampling_rate"`
	IPv6Share             float64      `yaml:"ipv6_share"`
	HostedShare           float64      `yaml:"hosted_share"` // share of flows towards the hosted servers
	Zipf                  float64      `yaml:"zipf"`         // popularity exponent of remote and hosted servers
	Diurnal               Diurnal      `yaml:"diurnal"`
	LongFlows             LongFlows    `yaml:"long_flows"`
	FlashCrowds           []FlashCrowd `yaml:"flash_crowds"`
}

// Diurnal is the daily curve: a cosine with its peak at PeakHour (UTC) and its trough at
// TroughRatio times the peak, twelve hours later.
type Diurnal struct {
	PeakHour    float64 `yaml:"peak_hour"`
	TroughRatio float64 `yaml:"trough_ratio"`
}

// LongFlows are flows lasting hours (streams, backups), exported in pieces by active timeout.
type LongFlows struct {
	Count       int             `yaml:"count"` // concurrent long flows
	MinDuration config.Duration `yaml:"min_duration"`
	MaxDuration config.Duration `yaml:"max_duration"`
	MinBPS      config.Rate     `yaml:"min_bps"`
	MaxBPS      config.Rate     `yaml:"max_bps"`
}

// FlashCrowd is a legitimate surge: many distinct clients completing TCP connections to one
// popular hosted server.
type FlashCrowd struct {
	Name     string          `yaml:"name"`
	Start    config.Duration `yaml:"start"`
	Duration config.Duration `yaml:"duration"`
	Server   config.Addr     `yaml:"server"`  // default: the most popular hosted server
	Port     uint16          `yaml:"port"`    // default 443
	Clients  int             `yaml:"clients"` // distinct clients over the surge
	BPS      config.Rate     `yaml:"bps"`     // true volume towards and from the server together
}

// Attack is one DDoS attack.
type Attack struct {
	Name       string          `yaml:"name"`
	Vector     string          `yaml:"vector"` // see Vectors
	Start      config.Duration `yaml:"start"`
	Duration   config.Duration `yaml:"duration"`
	BPS        config.Rate     `yaml:"bps"`         // true rate; BPS or PPS, or both
	PPS        config.Rate     `yaml:"pps"`         // true rate
	PacketSize int             `yaml:"packet_size"` // IP bytes; default: the vector's
	Targets    []config.Addr   `yaml:"targets"`
	Prefix     config.Prefix   `yaml:"prefix"`    // carpet bombing: every host of the prefix
	Sources    int             `yaml:"sources"`   // distinct sources (reflectors, bots); default per vector
	Spoofed    *bool           `yaml:"spoofed"`   // random spoofed sources; default per vector
	Port       uint16          `yaml:"port"`      // destination port (floods); default per vector
	Direction  string          `yaml:"direction"` // incoming (default) | outgoing (from our subscribers)
	Exporters  []string        `yaml:"exporters"` // by name; default all
	Pulse      *Pulse          `yaml:"pulse"`     // short pulsed attack
}

// Pulse makes an attack send for On, pause for Off, and so on.
type Pulse struct {
	On  config.Duration `yaml:"on"`
	Off config.Duration `yaml:"off"`
}

// Botnet is M infected subscriber devices beaconing to a C&C server.
type Botnet struct {
	Name        string          `yaml:"name"`
	Family      string          `yaml:"family"` // the truth's vector; default from the port
	Server      config.Addr     `yaml:"server"`
	Port        uint16          `yaml:"port"`  // 23, 48101 (Mirai-like), 80 (HTTP)...
	Proto       string          `yaml:"proto"` // tcp (default) | udp
	Bots        int             `yaml:"bots"`
	Period      config.Duration `yaml:"period"` // beacon period per bot
	Jitter      float64         `yaml:"jitter"` // +- share of the period
	Start       config.Duration `yaml:"start"`
	Duration    config.Duration `yaml:"duration"`     // default: to the end of the run
	AnswerRatio *float64        `yaml:"answer_ratio"` // share of beacons the server answers; default 0.9
	Packets     int             `yaml:"packets"`      // packets per beacon, bot to server; default 4
	Bytes       int             `yaml:"bytes"`        // bytes per beacon, bot to server; default 240
	Exporters   []string        `yaml:"exporters"`
}

// Scan is a horizontal scan of the internet from infected subscribers (telnet by default).
type Scan struct {
	Name     string          `yaml:"name"`
	Botnet   string          `yaml:"botnet"`   // scanners are this botnet's first bots; else subscribers
	Scanners int             `yaml:"scanners"` // default 10
	Ports    []uint16        `yaml:"ports"`    // default 23, 2323 (one in ten)
	Rate     float64         `yaml:"rate"`     // probes per second per scanner; default 50
	Start    config.Duration `yaml:"start"`
	Duration config.Duration `yaml:"duration"`
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario reads a scenario from YAML over the defaults and validates it. An unknown key
// is an error naming its line.
func ParseScenario(data []byte) (*Scenario, error) {
	sc := &Scenario{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(sc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	sc.applyDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

func mustPrefix(s string) config.Prefix { return config.Prefix{Prefix: netip.MustParsePrefix(s)} }

func (sc *Scenario) applyDefaults() {
	if sc.Duration == 0 {
		sc.Duration = config.Duration(time.Hour)
	}
	c := &sc.Carrier
	if c.ASN == 0 {
		c.ASN = 64500
	}
	if len(c.Subscribers) == 0 {
		c.Subscribers = []config.Prefix{mustPrefix("10.0.0.0/12"), mustPrefix("fd00:100::/40")}
	}
	if len(c.Servers) == 0 {
		c.Servers = []config.Prefix{mustPrefix("198.51.100.0/24"), mustPrefix("203.0.113.0/24"), mustPrefix("2001:db8:100::/48")}
	}
	if len(c.Internet) == 0 {
		c.Internet = []config.Prefix{mustPrefix("198.18.0.0/15"), mustPrefix("2001:db8:f000::/36")}
	}
	if !c.Spoofed.IsValid() {
		c.Spoofed = mustPrefix("240.0.0.0/4")
	}
	if c.SubscriberHosts == 0 {
		c.SubscriberHosts = 20000
	}
	if c.ServerHosts == 0 {
		c.ServerHosts = 400
	}
	if c.InternetHosts == 0 {
		c.InternetHosts = 50000
	}
	if len(sc.Exporters) == 0 {
		sc.Exporters = []Exporter{{Name: "edge1", Address: config.Addr{Addr: netip.MustParseAddr("127.0.0.11")}}}
	}
	for i := range sc.Exporters {
		e := &sc.Exporters[i]
		if e.Name == "" {
			e.Name = fmt.Sprintf("exporter%d", i+1)
		}
		if !e.Address.IsValid() {
			e.Address = config.Addr{Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(11 + i)})}
		}
		if e.Protocol == "" {
			e.Protocol = "ipfix"
		}
		if e.SamplingRate == 0 {
			e.SamplingRate = 1000
		}
		if e.ActiveTimeout == 0 {
			e.ActiveTimeout = config.Duration(60 * time.Second)
		}
		if e.InactiveTimeout == 0 {
			e.InactiveTimeout = config.Duration(15 * time.Second)
		}
		if e.TemplateRefresh == 0 {
			e.TemplateRefresh = config.Duration(20 * time.Second)
		}
		if e.Share == 0 {
			e.Share = 1
		}
	}
	b := &sc.Benign
	if b.ReferenceSamplingRate == 0 {
		b.ReferenceSamplingRate = 1000
	}
	if b.Zipf == 0 {
		b.Zipf = 1.1
	}
	if b.HostedShare == 0 {
		b.HostedShare = 0.2
	}
	if b.Diurnal.PeakHour == 0 && b.Diurnal.TroughRatio == 0 {
		b.Diurnal = Diurnal{PeakHour: 21, TroughRatio: 0.3}
	}
	if b.LongFlows.Count > 0 {
		lf := &b.LongFlows
		if lf.MinDuration == 0 {
			lf.MinDuration = config.Duration(time.Hour)
		}
		if lf.MaxDuration == 0 {
			lf.MaxDuration = config.Duration(6 * time.Hour)
		}
		if lf.MinBPS == 0 {
			lf.MinBPS = 1e6
		}
		if lf.MaxBPS == 0 {
			lf.MaxBPS = 20e6
		}
	}
	for i := range b.FlashCrowds {
		f := &b.FlashCrowds[i]
		if f.Name == "" {
			f.Name = fmt.Sprintf("flash-crowd-%d", i+1)
		}
		if f.Port == 0 {
			f.Port = 443
		}
		if f.Clients == 0 {
			f.Clients = 10000
		}
		if f.BPS == 0 {
			f.BPS = 30e6
		}
	}
	for i := range sc.Attacks {
		a := &sc.Attacks[i]
		if a.Name == "" {
			a.Name = fmt.Sprintf("attack-%d-%s", i+1, a.Vector)
		}
		if a.Direction == "" {
			a.Direction = "incoming"
		}
		if v, ok := vectors[a.Vector]; ok {
			if a.PacketSize == 0 {
				a.PacketSize = v.size
			}
			if a.Spoofed == nil {
				s := v.spoofed
				a.Spoofed = &s
			}
			if a.Sources == 0 {
				a.Sources = v.sources
			}
			if a.Port == 0 {
				a.Port = v.dport
			}
		}
	}
	for i := range sc.Botnets {
		bn := &sc.Botnets[i]
		if bn.Name == "" {
			bn.Name = fmt.Sprintf("botnet-%d", i+1)
		}
		if bn.Proto == "" {
			bn.Proto = "tcp"
		}
		if bn.Port == 0 {
			bn.Port = 23
		}
		if bn.Family == "" {
			switch bn.Port {
			case 23, 2323, 48101:
				bn.Family = "mirai"
			case 80, 8080, 443:
				bn.Family = "http-beacon"
			default:
				bn.Family = "beacon"
			}
		}
		if bn.Period == 0 {
			bn.Period = config.Duration(60 * time.Second)
		}
		if bn.AnswerRatio == nil {
			r := 0.9
			bn.AnswerRatio = &r
		}
		if bn.Packets == 0 {
			bn.Packets = 4
		}
		if bn.Bytes == 0 {
			bn.Bytes = 240
		}
	}
	for i := range sc.Scans {
		s := &sc.Scans[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("telnet-scan-%d", i+1)
		}
		if s.Scanners == 0 {
			s.Scanners = 10
		}
		if len(s.Ports) == 0 {
			s.Ports = []uint16{23, 2323}
		}
		if s.Rate == 0 {
			s.Rate = 50
		}
	}
}

// Protocols are the export protocols an exporter may speak.
var Protocols = []string{"ipfix", "netflow9", "netflow5", "sflow"}

func validProtocol(p string) bool {
	for _, q := range Protocols {
		if p == q {
			return true
		}
	}
	return false
}

func (sc *Scenario) validate() error {
	names := map[string]bool{}
	addrs := map[netip.Addr]bool{}
	for i, e := range sc.Exporters {
		if names[e.Name] {
			return fmt.Errorf("exporters[%d]: name %q used twice", i, e.Name)
		}
		names[e.Name] = true
		if addrs[e.Address.Addr] {
			return fmt.Errorf("exporters[%d]: address %s used twice (a collector tells exporters apart by address)", i, e.Address)
		}
		addrs[e.Address.Addr] = true
		if !validProtocol(e.Protocol) {
			return fmt.Errorf("exporters[%d].protocol: %q is not one of %v", i, e.Protocol, Protocols)
		}
		if e.Loss < 0 || e.Loss >= 1 || e.Reorder < 0 || e.Reorder >= 1 {
			return fmt.Errorf("exporters[%d]: loss and reorder must be in [0, 1)", i)
		}
		if e.Share < 0 {
			return fmt.Errorf("exporters[%d].share: negative", i)
		}
	}
	c := sc.Carrier
	for _, group := range []struct {
		key string
		ps  []config.Prefix
	}{{"carrier.subscribers", c.Subscribers}, {"carrier.servers", c.Servers}, {"carrier.internet", c.Internet}} {
		var v4 bool
		for _, p := range group.ps {
			v4 = v4 || p.Addr().Is4()
		}
		if !v4 {
			return fmt.Errorf("%s: at least one IPv4 prefix is needed", group.key)
		}
	}
	if !c.Spoofed.Addr().Is4() {
		return fmt.Errorf("carrier.spoofed: must be an IPv4 prefix")
	}
	b := sc.Benign
	if b.FlowsPerSecond < 0 || b.IPv6Share < 0 || b.IPv6Share > 1 || b.HostedShare < 0 || b.HostedShare > 1 {
		return fmt.Errorf("benign: flows_per_second must be >= 0, ipv6_share and hosted_share in [0, 1]")
	}
	if b.Diurnal.TroughRatio < 0 || b.Diurnal.TroughRatio > 1 {
		return fmt.Errorf("benign.diurnal.trough_ratio: must be in [0, 1]")
	}
	if b.LongFlows.MinDuration > b.LongFlows.MaxDuration || b.LongFlows.MinBPS > b.LongFlows.MaxBPS {
		return fmt.Errorf("benign.long_flows: min above max")
	}
	for i, f := range b.FlashCrowds {
		if f.Duration == 0 {
			return fmt.Errorf("benign.flash_crowds[%d] (%s): duration missing", i, f.Name)
		}
	}
	checkExporters := func(key string, list []string) error {
		for _, n := range list {
			if !names[n] {
				return fmt.Errorf("%s: no exporter named %q", key, n)
			}
		}
		return nil
	}
	entries := map[string]bool{}
	for i, a := range sc.Attacks {
		key := fmt.Sprintf("attacks[%d] (%s)", i, a.Name)
		if entries[a.Name] {
			return fmt.Errorf("%s: name used twice", key)
		}
		entries[a.Name] = true
		if _, ok := vectors[a.Vector]; !ok {
			return fmt.Errorf("%s: unknown vector %q (want one of %v)", key, a.Vector, VectorNames())
		}
		if a.Duration == 0 {
			return fmt.Errorf("%s: duration missing", key)
		}
		if a.BPS == 0 && a.PPS == 0 {
			return fmt.Errorf("%s: bps or pps needed", key)
		}
		if a.PacketSize < 28 || a.PacketSize > 9000 {
			return fmt.Errorf("%s: packet_size %d out of 28..9000", key, a.PacketSize)
		}
		if len(a.Targets) == 0 && !a.Prefix.IsValid() {
			return fmt.Errorf("%s: targets or prefix needed", key)
		}
		if a.Prefix.IsValid() && a.Prefix.Addr().Is4() && a.Prefix.Bits() < 16 {
			return fmt.Errorf("%s: carpet-bombed prefix %s is larger than a /16", key, a.Prefix)
		}
		if a.Direction != "incoming" && a.Direction != "outgoing" {
			return fmt.Errorf("%s: direction %q is not incoming or outgoing", key, a.Direction)
		}
		if a.Sources < 1 && !*a.Spoofed {
			return fmt.Errorf("%s: sources must be >= 1", key)
		}
		if a.Pulse != nil && (a.Pulse.On == 0 || a.Pulse.Off == 0) {
			return fmt.Errorf("%s: pulse needs on and off", key)
		}
		if err := checkExporters(key+".exporters", a.Exporters); err != nil {
			return err
		}
	}
	for i, bn := range sc.Botnets {
		key := fmt.Sprintf("botnets[%d] (%s)", i, bn.Name)
		if entries[bn.Name] {
			return fmt.Errorf("%s: name used twice", key)
		}
		entries[bn.Name] = true
		if !bn.Server.IsValid() {
			return fmt.Errorf("%s: server missing", key)
		}
		if bn.Bots < 1 || bn.Bots > c.SubscriberHosts {
			return fmt.Errorf("%s: bots must be in 1..carrier.subscriber_hosts (%d)", key, c.SubscriberHosts)
		}
		if bn.Proto != "tcp" && bn.Proto != "udp" {
			return fmt.Errorf("%s: proto %q is not tcp or udp", key, bn.Proto)
		}
		if bn.Jitter < 0 || bn.Jitter >= 1 {
			return fmt.Errorf("%s: jitter must be in [0, 1)", key)
		}
		if err := checkExporters(key+".exporters", bn.Exporters); err != nil {
			return err
		}
	}
	for i, s := range sc.Scans {
		key := fmt.Sprintf("scans[%d] (%s)", i, s.Name)
		if entries[s.Name] {
			return fmt.Errorf("%s: name used twice", key)
		}
		entries[s.Name] = true
		if s.Botnet != "" {
			found := false
			for _, bn := range sc.Botnets {
				found = found || bn.Name == s.Botnet
			}
			if !found {
				return fmt.Errorf("%s: no botnet named %q", key, s.Botnet)
			}
		}
		if s.Duration == 0 {
			return fmt.Errorf("%s: duration missing", key)
		}
	}
	return nil
}
