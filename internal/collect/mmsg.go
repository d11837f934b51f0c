package collect

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readBatch is the number of datagrams one recvmmsg call may return.
const readBatch = 32

// mmsghdr is struct mmsghdr of recvmmsg(2), which x/sys/unix does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// batchReader reads up to readBatch datagrams per system call (recvmmsg) into buffers it owns,
// through the runtime's poller, so deadlines and Close work as for a net.UDPConn. It does not
// allocate once made.
type batchReader struct {
	raw   syscall.RawConn
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte

	n      int           // datagrams of the last read
	errno  syscall.Errno // error of the last recvmmsg, other than EAGAIN
	readFn func(fd uintptr) bool
}

func newBatchReader(conn *net.UDPConn) (*batchReader, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchReader{
		raw:   raw,
		hdrs:  make([]mmsghdr, readBatch),
		iovs:  make([]unix.Iovec, readBatch),
		names: make([]unix.RawSockaddrAny, readBatch),
		bufs:  make([][]byte, readBatch),
	}
	for i := range b.hdrs {
		b.bufs[i] = make([]byte, maxDatagram+1)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
		b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.readFn = b.recv // made once: a method value passed at every read would allocate
	return b, nil
}

// read waits for datagrams and returns how many arrived. The error is the poller's (deadline,
// closed socket) or the system call's.
func (b *batchReader) read() (int, error) {
	b.n, b.errno = 0, 0
	if err := b.raw.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// recv is called by the poller when the socket may be readable; false means "not yet, wait".
func (b *batchReader) recv(fd uintptr) bool {
	for i := range b.hdrs {
		b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrAny
		b.hdrs[i].hdr.Flags = 0
		b.hdrs[i].len = 0
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			b.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			b.errno = errno
			return true
		}
	}
}

// datagram returns datagram i of the last read, its sender, and whether the kernel cut it.
func (b *batchReader) datagram(i int) ([]byte, netip.AddrPort, bool) {
	h := &b.hdrs[i]
	return b.bufs[i][:h.len], sockaddrAddrPort(&b.names[i]), h.hdr.Flags&unix.MSG_TRUNC != 0
}

// sockaddrAddrPort reads an IPv4 or IPv6 socket address; the port is in network byte order.
func sockaddrAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&p.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(port[0])<<8|uint16(port[1]))
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&p.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), uint16(port[0])<<8|uint16(port[1]))
	}
	return netip.AddrPort{}
}
