package cnc

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
)

// addrKey is an address as two integers: cheap to hash and compare. IPv4 is IPv4-mapped.
type addrKey struct{ hi, lo uint64 }

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (k addrKey) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b).Unmap()
}

func (k addrKey) hash() uint64 { return mix64(k.hi*0x9e3779b97f4a7c15 ^ k.lo) }

// epKey is one external endpoint: address, port (0 for protocols without ports), protocol.
type epKey struct {
	addr  addrKey
	port  uint16
	proto uint8
}

// hash spreads the key over 64 bits, for the index.
func (k epKey) hash() uint64 {
	return mix64(k.addr.hi*0x9e3779b97f4a7c15 ^ k.addr.lo ^ (uint64(k.port)<<8|uint64(k.proto))*0xc2b2ae3d27d4eb4f)
}

// endpoint is the state every tracked endpoint has. It is small: the heavier state is in a
// detail, made when a second client or a third contact comes.
type endpoint struct {
	key         epKey
	first, last int64  // ms
	contacts    uint32 // client → server records
	tcpContacts uint32
	unanswered  uint32 // TCP contacts that only ever sent SYN (unsampled, or several packets)
	replies     uint32 // server → client records
	iotContacts uint32 // contacts from clients known to answer or scan telnet
	client1     addrKey
	sizes       topSizes // bytes per packet, client → server
	replySizes  topSizes // bytes per packet, server → client
	sampled     bool     // some contact came from sampled flows
	detail      int32    // index in Engine.details, or -1
	dirty       bool     // touched since the last tick
	alerted     bool
}

// detail is the heavier state of an endpoint contacted by two clients or three times.
type detail struct {
	ep        int32 // index in Engine.endpoints
	exact     [8]addrKey
	nExact    uint8
	hll       *hll    // made when more clients come than exact holds
	approx    float32 // clients as of the last scoring
	score     float32 // score at the last scoring
	n         uint32  // contacts since the detail was made
	hours     [24]uint32
	minute    int64 // current minute (ms / 60000)
	perMinute welford
	minuteN   uint32
	hour      int64 // current hour, for growth
	addsCur   uint32
	addsPrev  uint32
	beacon    *Beacon // best pair beacon among the endpoint's clients
	beaconKey addrKey
	list      map[addrKey]*clientStat // listed clients, once the score reached ListScore
}

// detailMeta is what eviction reads of a detail, kept apart in a dense array of 16-byte
// entries: choosing a victim reads eight of these, not eight whole details and their endpoints.
type detailMeta struct {
	ep    int32   // index in Engine.endpoints, or -1 when the detail is free
	worth float32 // 2 × last score + clients + log2(contacts); +Inf when its endpoint alerted
	last  int64   // the endpoint's last contact
}

// setWorth refreshes the worth of detail di from what it holds.
func (e *Engine) setWorth(di int32) {
	d, m := &e.details[di], &e.dmeta[di]
	if !math.IsInf(float64(m.worth), 1) {
		m.worth = 2*d.score + d.approx + float32(bits.Len32(d.n))
	}
}

// clientStat is what the engine knows of one listed client of an endpoint.
type clientStat struct {
	first, last int64
	contacts    uint32
}

// reset empties a detail's state in place (no large copy) for endpoint ep.
func (e *Engine) resetDetail(di, ep int32) {
	d := &e.details[di]
	d.ep, d.exact, d.nExact, d.hll, d.hours = ep, [8]addrKey{}, 0, nil, [24]uint32{}
	d.minute, d.perMinute, d.minuteN, d.hour, d.addsCur, d.addsPrev = -1, welford{}, 0, -1, 0, 0
	d.beacon, d.beaconKey, d.list = nil, addrKey{}, nil
	d.approx, d.score, d.n = 0, 0, 0
	e.dmeta[di] = detailMeta{ep: ep}
}

// clients estimates the endpoint's distinct clients.
func (d *detail) clients() float64 {
	if d.hll == nil {
		return float64(d.nExact)
	}
	return math.Max(d.hll.estimate(), float64(len(d.exact)))
}

// addClient counts client c; it reports whether c is new as far as the counter can tell.
func (d *detail) addClient(c addrKey) bool {
	if d.hll == nil {
		for i := 0; i < int(d.nExact); i++ {
			if d.exact[i] == c {
				return false
			}
		}
		if int(d.nExact) < len(d.exact) {
			d.exact[d.nExact] = c
			d.nExact++
			return true
		}
		d.hll = new(hll)
		for _, x := range d.exact {
			d.hll.add(x.hash())
		}
	}
	return d.hll.addChanged(c.hash())
}

// addContact counts one contact at ms in the per-hour and per-minute profiles and growth.
func (d *detail) addContact(ms int64, isNew bool) {
	h := ms / 3600000
	d.hours[(h%24+24)%24]++
	if h != d.hour {
		if h == d.hour+1 {
			d.addsPrev = d.addsCur
		} else {
			d.addsPrev = 0
		}
		d.addsCur, d.hour = 0, h
	}
	if isNew {
		d.addsCur++
	}
	m := ms / 60000
	switch {
	case d.minute < 0:
		d.minute, d.minuteN = m, 1
	case m == d.minute:
		d.minuteN++
	case m > d.minute:
		d.perMinute.add(float32(d.minuteN))
		gap := m - d.minute - 1
		if gap > 1440 {
			gap = 1440
		}
		for ; gap > 0; gap-- {
			d.perMinute.add(0)
		}
		d.minute, d.minuteN = m, 1
	default:
		// A late record: count it in the current minute rather than rewrite the past.
		d.minuteN++
	}
}

// value is how much an endpoint is worth keeping, for eviction: alerted ones and those with many
// clients most, then those with more contacts, recent before old.
func (e *Engine) value(ep *endpoint) float64 {
	if ep.alerted {
		return math.MaxFloat64
	}
	v := math.Log2(1 + float64(ep.contacts))
	if ep.detail >= 0 {
		d := &e.details[ep.detail]
		v += 4 * math.Max(float64(d.approx), float64(d.nExact))
		if d.beacon != nil {
			v += 20 * d.beacon.Score
		}
	}
	age := float64(e.now-ep.last) / 3600000
	return v - age
}

// make adds the endpoint k (hash h) and returns its slot, evicting another when full.
func (e *Engine) make(k epKey, h uint64, ms int64) int32 {
	var i int32
	if len(e.endpoints) < e.cfg.MaxEndpoints {
		e.endpoints = append(e.endpoints, endpoint{})
		i = int32(len(e.endpoints) - 1)
	} else {
		i = e.victim(len(e.endpoints), func(j int32) float64 { return e.value(&e.endpoints[j]) })
		old := &e.endpoints[i]
		e.index.remove(old.key.hash(), i)
		if old.detail >= 0 {
			e.freeDetail(old.detail)
		}
		e.stats.endpointsEvicted++
	}
	e.endpoints[i] = endpoint{key: k, first: ms, last: ms, detail: -1}
	e.index.insert(h, i)
	return i
}

// victim picks the least valuable of eight random slots among n.
func (e *Engine) victim(n int, value func(int32) float64) int32 {
	best, bestV := int32(-1), math.Inf(1)
	for range 8 {
		e.rng = mix64(e.rng + 0x9e3779b97f4a7c15)
		j := int32(e.rng % uint64(n))
		if v := value(j); v < bestV {
			best, bestV = j, v
		}
	}
	if best < 0 {
		best = 0
	}
	return best
}

// detailOf returns ep's detail, making one (evicting another endpoint's when full); nil when the
// slot it would take belongs to an alerted endpoint.
func (e *Engine) detailOf(idx int32) *detail {
	ep := &e.endpoints[idx]
	if ep.detail >= 0 {
		return &e.details[ep.detail]
	}
	var di int32
	switch {
	case len(e.freeDetails) > 0:
		di = e.freeDetails[len(e.freeDetails)-1]
		e.freeDetails = e.freeDetails[:len(e.freeDetails)-1]
	case len(e.details) < e.cfg.MaxDetailed:
		e.details = append(e.details, detail{})
		e.dmeta = append(e.dmeta, detailMeta{})
		di = int32(len(e.details) - 1)
	default:
		di = e.victim(len(e.details), func(j int32) float64 {
			m := &e.dmeta[j]
			if m.ep < 0 {
				return math.Inf(-1)
			}
			// Judged on the packed meta alone (one small read): its last score first, then
			// clients and contacts, recent before old.
			return float64(m.worth) - float64(e.now-m.last)/3600000
		})
		if owner := e.dmeta[di].ep; owner >= 0 && math.IsInf(float64(e.dmeta[di].worth), 1) {
			// Never drop an alerted endpoint's detail: its clients are what the alert is about.
			e.stats.detailsEvicted++
			return nil
		}
		if owner := e.dmeta[di].ep; owner >= 0 && owner != idx {
			e.endpoints[owner].detail = -1
		}
		e.dropList(&e.details[di])
		e.stats.detailsEvicted++
	}
	e.resetDetail(di, idx)
	ep.detail = di
	if ep.alerted {
		e.dmeta[di].worth = float32(math.Inf(1))
	}
	return &e.details[di]
}

func (e *Engine) freeDetail(di int32) {
	e.dropList(&e.details[di])
	e.resetDetail(di, -1)
	e.freeDetails = append(e.freeDetails, di)
}

func (e *Engine) dropList(d *detail) {
	if d.list != nil {
		d.list = nil
		e.listed--
	}
}
