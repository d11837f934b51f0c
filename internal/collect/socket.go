package collect

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// socket is one UDP socket of a listen address. Several sockets share an address through
// SO_REUSEPORT; the kernel spreads the exporters over them by a hash of the 4-tuple, so one
// exporter's datagrams stay in order on one socket.
type socket struct {
	conn   *net.UDPConn
	inode  uint64        // the socket's inode, to find its drops in /proc/net/udp{,6}
	rcvbuf int           // receive buffer the kernel granted, bytes
	drops  atomic.Uint64 // the kernel's drop count, as last read
}

// listenUDP opens a UDP socket on addr with SO_REUSEPORT and a receive buffer of about rcvbuf bytes.
// As root it forces the size past net.core.rmem_max (SO_RCVBUFFORCE); otherwise the kernel caps it.
func listenUDP(ctx context.Context, addr netip.AddrPort, rcvbuf int) (*socket, error) {
	var ctrlErr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				ctrlErr = fmt.Errorf("SO_REUSEPORT: %w", err)
				return
			}
			if rcvbuf > 0 {
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
					// Not root (no CAP_NET_ADMIN): the kernel caps this at net.core.rmem_max.
					if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
						ctrlErr = fmt.Errorf("SO_RCVBUF: %w", err)
					}
				}
			}
		})
		if err != nil {
			return err
		}
		return ctrlErr
	}}
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	pc, err := lc.ListenPacket(ctx, network, addr.String())
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	s := &socket{conn: conn}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			s.rcvbuf = v
		}
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil {
			s.inode = st.Ino
		}
	})
	return s, nil
}

// socketDrops reads the kernel's drop counters of UDP sockets (the last column of /proc/net/udp
// and /proc/net/udp6) and returns them by socket inode. Only inodes in want are kept.
func socketDrops(want map[uint64]bool) (map[uint64]uint64, error) {
	out := make(map[uint64]uint64, len(want))
	var errs []error
	for _, path := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		data, err := os.ReadFile(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		parseProcNetUDP(data, want, out)
	}
	return out, errors.Join(errs...)
}

// parseProcNetUDP adds the drops of the sockets in want, found in one /proc/net/udp{,6} table, to out.
// A line is: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
func parseProcNetUDP(data []byte, want map[uint64]bool, out map[uint64]uint64) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 13 {
			continue
		}
		inode, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil || !want[inode] {
			continue
		}
		drops, err := strconv.ParseUint(string(f[len(f)-1]), 10, 64)
		if err != nil {
			continue
		}
		out[inode] += drops
	}
}
