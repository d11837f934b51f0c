package importer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// maxPacket bounds a captured packet: a flow export is one UDP datagram (at most 64 KiB) with its
// link, IP and UDP headers. A length beyond it is a damaged or hostile file, refused before any
// allocation (gopacket's pcapgo allocates whatever length the file announces, up to 4 GiB).
const maxPacket = 256 << 10

// maxBlock bounds a pcapng block that is skipped unread (name tables, statistics, comments).
const maxBlock = 64 << 20

// Block types of pcapng (draft-ietf-opsawg-pcapng).
const (
	ngSectionHeader   = 0x0a0d0d0a
	ngInterface       = 0x00000001
	ngObsoletePacket  = 0x00000002
	ngSimplePacket    = 0x00000003
	ngEnhancedPacket  = 0x00000006
	ngByteOrderMagic  = 0x1a2b3c4d
	ngOptionTsResol   = 9
	ngOptionEndOfOpts = 0
)

// capture reads the packets of a classic pcap or a pcapng file, one at a time, into a buffer that
// the next call reuses.
type capture struct {
	r     *bufio.Reader
	ng    bool
	order binary.ByteOrder
	// classic pcap
	link  uint16
	nanos bool
	// pcapng: the current section's interfaces
	ifaces []ngIface
	lastMs int64
	hdr    [28]byte
	buf    []byte
}

// ngIface is a pcapng interface: its link type and timestamp units per second.
type ngIface struct {
	link  uint16
	units uint64
}

// packet is one captured packet: its link type, its time in Unix ms, and its bytes (valid until
// the next call).
type packet struct {
	link uint16
	ms   int64
	data []byte
}

// errNotCapture says that a file is neither a pcap nor a pcapng file.
var errNotCapture = errors.New("not a pcap or pcapng file")

// newCapture reads a file's header and tells its kind.
func newCapture(r io.Reader) (*capture, error) {
	c := &capture{r: bufio.NewReaderSize(r, 256<<10), buf: make([]byte, 0, 2048)}
	magic, err := c.r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: too short", errNotCapture)
	}
	if binary.BigEndian.Uint32(magic) == ngSectionHeader {
		c.ng = true
		return c, nil // the section header is read as the first block
	}
	h := c.hdr[:24]
	if _, err := io.ReadFull(c.r, h); err != nil {
		return nil, fmt.Errorf("%w: short header", errNotCapture)
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		c.order = binary.LittleEndian
	case 0xa1b23c4d:
		c.order, c.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		c.order = binary.BigEndian
	case 0x4d3cb2a1:
		c.order, c.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%w: magic %#08x", errNotCapture, binary.BigEndian.Uint32(h))
	}
	c.link = uint16(c.order.Uint32(h[20:24])) // the upper bits carry FCS flags
	return c, nil
}

// next returns the next packet, io.EOF at the end of the file, or io.ErrUnexpectedEOF when the
// file ends inside a packet.
func (c *capture) next() (packet, error) {
	if c.ng {
		return c.nextBlock()
	}
	h := c.hdr[:16]
	if _, err := io.ReadFull(c.r, h); err != nil {
		return packet{}, err
	}
	capLen := c.order.Uint32(h[8:12])
	if capLen > maxPacket {
		return packet{}, fmt.Errorf("packet of %d bytes: beyond %d, the file is damaged", capLen, maxPacket)
	}
	data, err := c.read(int(capLen))
	if err != nil {
		return packet{}, eofInside(err)
	}
	sec, frac := int64(c.order.Uint32(h[0:4])), int64(c.order.Uint32(h[4:8]))
	ms := sec*1000 + frac/1000
	if c.nanos {
		ms = sec*1000 + frac/1_000_000
	}
	return packet{link: c.link, ms: ms, data: data}, nil
}

// nextBlock reads pcapng blocks until a packet block.
func (c *capture) nextBlock() (packet, error) {
	for {
		h := c.hdr[:8]
		if _, err := io.ReadFull(c.r, h); err != nil {
			return packet{}, err
		}
		typ := binary.BigEndian.Uint32(h[0:4])
		if typ == ngSectionHeader {
			if err := c.section(h); err != nil {
				return packet{}, err
			}
			continue
		}
		if c.order == nil {
			return packet{}, fmt.Errorf("%w: no section header", errNotCapture)
		}
		typ = c.order.Uint32(h[0:4])
		total := c.order.Uint32(h[4:8])
		if total < 12 || total%4 != 0 || total > maxBlock {
			return packet{}, fmt.Errorf("pcapng block of %d bytes: the file is damaged", total)
		}
		body := int(total) - 12 // type, length, and the trailing length
		switch typ {
		case ngInterface, ngEnhancedPacket, ngObsoletePacket, ngSimplePacket:
			if body > maxPacket+4096 {
				return packet{}, fmt.Errorf("pcapng block of %d bytes: beyond %d, the file is damaged", total, maxPacket)
			}
			b, err := c.read(body + 4)
			if err != nil {
				return packet{}, eofInside(err)
			}
			p, ok, err := c.block(typ, b[:body])
			if err != nil || ok {
				return p, err
			}
		default:
			if _, err := c.r.Discard(body + 4); err != nil {
				return packet{}, eofInside(err)
			}
		}
	}
}

// section reads a section header block whose first 8 bytes are h, and starts a new section.
func (c *capture) section(h []byte) error {
	m := c.hdr[8:12]
	if _, err := io.ReadFull(c.r, m); err != nil {
		return eofInside(err)
	}
	switch binary.BigEndian.Uint32(m) {
	case ngByteOrderMagic:
		c.order = binary.BigEndian
	case 0x4d3c2b1a:
		c.order = binary.LittleEndian
	default:
		return fmt.Errorf("%w: pcapng byte-order magic %#08x", errNotCapture, binary.BigEndian.Uint32(m))
	}
	total := c.order.Uint32(h[4:8])
	if total < 28 || total%4 != 0 || total > maxBlock {
		return fmt.Errorf("pcapng section header of %d bytes: the file is damaged", total)
	}
	c.ifaces = c.ifaces[:0]
	if _, err := c.r.Discard(int(total) - 12); err != nil {
		return eofInside(err)
	}
	return nil
}

// block reads an interface or packet block's body; ok says that it held a packet.
func (c *capture) block(typ uint32, b []byte) (p packet, ok bool, err error) {
	damaged := func(what string) error { return fmt.Errorf("pcapng %s block too short: the file is damaged", what) }
	switch typ {
	case ngInterface:
		if len(b) < 8 {
			return p, false, damaged("interface")
		}
		c.ifaces = append(c.ifaces, ngIface{link: c.order.Uint16(b[0:2]), units: tsUnits(c.order, b[8:])})
		return p, false, nil
	case ngSimplePacket:
		if len(b) < 4 || len(c.ifaces) == 0 {
			return p, false, damaged("simple packet")
		}
		n := min(int(c.order.Uint32(b[0:4])), len(b)-4)
		return packet{link: c.ifaces[0].link, ms: c.lastMs, data: b[4 : 4+n]}, true, nil
	}
	// Enhanced (and obsolete) packet blocks: interface, time, captured and original lengths.
	var id int
	if typ == ngEnhancedPacket {
		if len(b) < 20 {
			return p, false, damaged("enhanced packet")
		}
		id = int(c.order.Uint32(b[0:4]))
	} else {
		if len(b) < 20 {
			return p, false, damaged("packet")
		}
		id = int(c.order.Uint16(b[0:2]))
	}
	if id >= len(c.ifaces) {
		return p, false, fmt.Errorf("pcapng packet on interface %d of %d: the file is damaged", id, len(c.ifaces))
	}
	capLen := int(c.order.Uint32(b[12:16]))
	if capLen > len(b)-20 {
		return p, false, fmt.Errorf("pcapng packet of %d bytes in a block of %d: the file is damaged", capLen, len(b))
	}
	ts := uint64(c.order.Uint32(b[4:8]))<<32 | uint64(c.order.Uint32(b[8:12]))
	units := c.ifaces[id].units
	c.lastMs = int64(ts/units)*1000 + fracMs(ts%units, units)
	return packet{link: c.ifaces[id].link, ms: c.lastMs, data: b[20 : 20+capLen]}, true, nil
}

// fracMs is the milliseconds in frac units of a second of the given size.
// frac < units, so the quotient is below 1000 and Div64 cannot overflow.
func fracMs(frac, units uint64) int64 {
	hi, lo := bits.Mul64(frac, 1000)
	q, _ := bits.Div64(hi, lo, units)
	return int64(q)
}

// tsUnits reads an interface's if_tsresol option: timestamp units per second (10^6 by default).
func tsUnits(order binary.ByteOrder, opts []byte) uint64 {
	for len(opts) >= 4 {
		code, n := order.Uint16(opts[0:2]), int(order.Uint16(opts[2:4]))
		if code == ngOptionEndOfOpts || 4+n > len(opts) {
			break
		}
		if code == ngOptionTsResol && n >= 1 {
			v := opts[4]
			if v&0x80 != 0 && v&0x7f <= 63 {
				return 1 << (v & 0x7f)
			}
			if v&0x80 == 0 && v <= 19 {
				u := uint64(1)
				for range v {
					u *= 10
				}
				return u
			}
		}
		opts = opts[min(4+(n+3)&^3, len(opts)):]
	}
	return 1_000_000
}

// read reads n bytes into the reused buffer.
func (c *capture) read(n int) ([]byte, error) {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	_, err := io.ReadFull(c.r, b)
	return b, err
}

// eofInside turns an end of file met inside a packet or block into io.ErrUnexpectedEOF.
func eofInside(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
