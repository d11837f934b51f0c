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

// Networks is the networks the enricher finds hostgroups in (nil: none): the detectors that read
// a batch's SrcGroup and DstGroup must be given the same.
func (e *Enricher) Networks() *Networks { return e.nets }

// Enrich sets the hostgroup and country columns of b, overwriting what they held, and the
// hostgroups' indexes (flow.Batch.SrcGroup, DstGroup) for the detectors. Every string it stores is
// shared (a hostgroup's name, an interned code): it allocates nothing per flow.
func (e *Enricher) Enrich(b *flow.Batch) {
	n := b.Len()
	b.SrcHostgroup = resize(b.SrcHostgroup, n)
	b.DstHostgroup = resize(b.DstHostgroup, n)
	b.SrcCountry = resize(b.SrcCountry, n)
	b.DstCountry = resize(b.DstCountry, n)
	if e.nets != nil {
		b.SrcGroup, b.DstGroup, b.Groups = resize(b.SrcGroup, n), resize(b.DstGroup, n), e.nets
		fillHostgroups(e.nets, b.SrcAddr, b.SrcHostgroup, b.SrcGroup)
		fillHostgroups(e.nets, b.DstAddr, b.DstHostgroup, b.DstGroup)
	} else {
		b.SrcGroup, b.DstGroup, b.Groups = b.SrcGroup[:0], b.DstGroup[:0], nil
	}
	if e.countries != nil {
		fillCountries(e.countries, b.SrcAddr, b.SrcCountry)
		fillCountries(e.countries, b.DstAddr, b.DstCountry)
	}
}

// resize makes s n long, its values cleared.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// fillHostgroups sets out[i] to the name of the hostgroup of addrs[i] and idx[i] to its index+1;
// runs of one address (a victim, a busy server) are looked up once.
func fillHostgroups(nets *Networks, addrs []netip.Addr, out []string, idx []int32) {
	for i, a := range addrs {
		if i > 0 && a == addrs[i-1] {
			out[i], idx[i] = out[i-1], idx[i-1]
			continue
		}
		if g := nets.Lookup(a); g != nil {
			out[i], idx[i] = g.Name, int32(g.Index)+1
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
