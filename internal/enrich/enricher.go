package enrich

import (
	"net/netip"

	"yocho/internal/flow"
)

// Enricher completes decoded batches before anyone reads them: it sets each flow's hostgroups
// (the most specific configured network holding its source and its destination) and, given a
// country database, their countries. It is the collector's one consumer and hands each completed
// batch to its own consumers (the store, the detectors) in order; they see the batch read-only.
type Enricher struct {
	nets      *Networks  // nil: no hostgroups
	countries *Countries // nil: no countries
	next      []flow.Consumer
}

// NewEnricher returns an enricher that completes batches with nets and countries (either may be
// nil).
func NewEnricher(nets *Networks, countries *Countries) *Enricher {
	return &Enricher{nets: nets, countries: countries}
}

// To sets the consumers that receive each enriched batch, in order, and returns e. Call it
// before the first batch arrives.
func (e *Enricher) To(next []flow.Consumer) *Enricher {
	e.next = next
	return e
}

// Consume enriches b and hands it to every consumer in turn.
func (e *Enricher) Consume(b *flow.Batch) {
	e.Enrich(b)
	for _, c := range e.next {
		c.Consume(b)
	}
}

// Enrich sets the hostgroup and country columns of b, overwriting what they held. Every string it
// stores is shared (a hostgroup's name, an interned code): it allocates nothing per flow.
func (e *Enricher) Enrich(b *flow.Batch) {
	n := b.Len()
	b.SrcHostgroup = resize(b.SrcHostgroup, n)
	b.DstHostgroup = resize(b.DstHostgroup, n)
	b.SrcCountry = resize(b.SrcCountry, n)
	b.DstCountry = resize(b.DstCountry, n)
	if e.nets != nil {
		fillHostgroups(e.nets, b.SrcAddr, b.SrcHostgroup)
		fillHostgroups(e.nets, b.DstAddr, b.DstHostgroup)
	}
	if e.countries != nil {
		fillCountries(e.countries, b.SrcAddr, b.SrcCountry)
		fillCountries(e.countries, b.DstAddr, b.DstCountry)
	}
}

// resize makes s n long, its values cleared.
func resize(s []string, n int) []string {
	if cap(s) < n {
		return make([]string, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// fillHostgroups sets out[i] to the name of the hostgroup of addrs[i]; runs of one address (a
// victim, a busy server) are looked up once.
func fillHostgroups(nets *Networks, addrs []netip.Addr, out []string) {
	for i, a := range addrs {
		if i > 0 && a == addrs[i-1] {
			out[i] = out[i-1]
			continue
		}
		if g := nets.Lookup(a); g != nil {
			out[i] = g.Name
		}
	}
}

// fillCountries sets out[i] to the country code of addrs[i].
func fillCountries(c *Countries, addrs []netip.Addr, out []string) {
	for i, a := range addrs {
		if i > 0 && a == addrs[i-1] {
			out[i] = out[i-1]
			continue
		}
		out[i] = c.Lookup(a)
	}
}
