package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Network is one of the carrier's own prefixes (a hostgroup): who it belongs to, how much it
// matters, and the DDoS thresholds of its hosts. The most specific prefix that holds an address
// wins; a threshold it omits comes from its parent (the enclosing network, or the one named by
// Parent), then from detection.ddos.
type Network struct {
	Prefix      Prefix `yaml:"prefix"`
	Name        string `yaml:"name"`
	Customer    string `yaml:"customer"`
	Criticality string `yaml:"criticality"` // low | medium | high; empty inherits (default medium)
	// Parent names the network this one inherits from when it is not the enclosing prefix.
	Parent string `yaml:"parent"`
	// Thresholds apply to each host of the network, per second.
	Thresholds Thresholds `yaml:"thresholds"`
	// PrefixThresholds apply to the traffic of a whole /24 (IPv4) or /64 (IPv6) of the network:
	// carpet bombing spread over many hosts, each under its own threshold.
	PrefixThresholds Thresholds `yaml:"prefix_thresholds"`
}

// Networks is the list of the carrier's own prefixes. Traffic towards them is incoming; traffic
// from them towards any other address is outgoing.
type Networks []Network

// criticalities are the criticality levels, from least to most critical.
func criticalities() []string { return []string{"low", "medium", "high"} }

// ThresholdKinds are the kinds of traffic a threshold can name, besides the total: a key is
// "<kind>_<metric>" (udp_pps, ntp_bps, tcp_syn_flows) or just "<metric>" for the total, with metric
// one of bps, pps, flows (flows per second).
func ThresholdKinds() []string {
	return []string{"tcp", "tcp_syn", "udp", "icmp", "fragments",
		"dns", "ntp", "memcached", "ssdp", "cldap", "chargen", "wsd"}
}

// ThresholdMetrics are the per-second measures a threshold can bound.
func ThresholdMetrics() []string { return []string{"bps", "pps", "flows"} }

// Thresholds maps keys such as "bps", "pps", "udp_pps" or "ntp_bps" to a per-second rate. A zero
// rate disables that threshold (it does not inherit).
type Thresholds map[string]Rate

// SplitThresholdKey splits "tcp_syn_pps" into ("tcp_syn", "pps") and "bps" into ("", "bps"); ok is
// false when the key names no known kind or metric.
func SplitThresholdKey(key string) (kind, metric string, ok bool) {
	for _, m := range ThresholdMetrics() {
		if key == m {
			return "", m, true
		}
		if k, found := strings.CutSuffix(key, "_"+m); found {
			for _, known := range ThresholdKinds() {
				if k == known {
					return k, m, true
				}
			}
			return "", "", false
		}
	}
	return "", "", false
}

// UnmarshalYAML reads a thresholds mapping over the existing values, naming the line of an unknown
// key or a bad rate.
func (t *Thresholds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return lineError(n, "thresholds must be a mapping such as {bps: 1G, pps: 100k, udp_pps: 50k}")
	}
	if *t == nil {
		*t = Thresholds{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, _, ok := SplitThresholdKey(k.Value); !ok {
			return lineError(k, "unknown threshold %q (want bps, pps, flows, or <kind>_<bps|pps|flows> with kind one of %s)",
				k.Value, strings.Join(ThresholdKinds(), ", "))
		}
		var r Rate
		if err := r.UnmarshalYAML(v); err != nil {
			return err
		}
		(*t)[k.Value] = r
	}
	return nil
}

// DefaultNetworks is empty: with no networks declared, nothing is watched.
func DefaultNetworks() Networks { return nil }

func (ns Networks) validate() error {
	byName := map[string]int{}
	byPrefix := map[netip.Prefix]int{}
	for i, n := range ns {
		key := fmt.Sprintf("networks[%d]", i)
		if !n.Prefix.IsValid() {
			return fmt.Errorf("%s.prefix: missing", key)
		}
		if j, dup := byPrefix[n.Prefix.Prefix]; dup {
			return fmt.Errorf("%s.prefix: %s is already networks[%d]", key, n.Prefix, j)
		}
		byPrefix[n.Prefix.Prefix] = i
		if n.Name != "" {
			if j, dup := byName[n.Name]; dup {
				return fmt.Errorf("%s.name: %q is already networks[%d]", key, n.Name, j)
			}
			byName[n.Name] = i
		}
		if n.Criticality != "" && indexOf(criticalities(), n.Criticality) < 0 {
			return fmt.Errorf("%s.criticality: %q is not one of low, medium, high", key, n.Criticality)
		}
	}
	// Named parents must exist and form no cycle.
	for i, n := range ns {
		if n.Parent == "" {
			continue
		}
		if _, ok := byName[n.Parent]; !ok {
			return fmt.Errorf("networks[%d].parent: no network is named %q", i, n.Parent)
		}
		seen := map[int]bool{i: true}
		for j := byName[n.Parent]; ; {
			if seen[j] {
				return fmt.Errorf("networks[%d].parent: %q leads to a cycle", i, n.Parent)
			}
			seen[j] = true
			p := ns[j].Parent
			if p == "" {
				break
			}
			j = byName[p]
		}
	}
	return nil
}

// CriticalityRank is 0 for low, 1 for medium, 2 for high, -1 for anything else.
func CriticalityRank(c string) int { return indexOf(criticalities(), c) }

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// SortedKeys lists a thresholds mapping's keys in order, for stable output.
func (t Thresholds) SortedKeys() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
