package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An evloop reads many streams from one goroutine with epoll, on sockets
// of its own rather than net/http's. With a goroutine per reader, every
// message cost each reader a netpoller wake-up, a goroutine switch and a
// read that found nothing more (EAGAIN), on top of the read that got it:
// at 100k deliveries/s that alone took ~80% of the generator's core and
// voided the run. Here one epoll_wait reports many ready sockets and each
// gets exactly one read.
//
// The loop never blocks in epoll_wait itself: a goroutine blocked in a
// system call keeps the only P (the tool runs on one CPU) until sysmon
// takes it back, up to 10 ms later, and the publisher's schedule slipped by
// a second waiting for it. Instead the epoll descriptor, which is readable
// while it has events, waits in Go's own netpoller like any socket, and
// epoll_wait is only called with a zero timeout.
//
// Everything about a stream belongs to its loop's goroutine until its
// reader's done channel is closed.
type evloop struct {
	epfd  int
	file  *os.File // epfd in Go's netpoller; closing it stops the loop
	clock clock
	w     *window
	buf   []byte

	mu      sync.Mutex
	streams map[int32]*rawStream // by fd
	stopped bool
	exited  chan struct{}
}

// rawStream is one reader's connection in a loop.
type rawStream struct {
	fd       int
	r        *reader
	head     []byte
	headDone bool
	chunked  bool
	dec      chunkDecoder
	lines    lineSplitter
	ready    chan error // one value: nil once a 200's head is read
}

func newEvloop(c clock, w *window) (*evloop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &evloop{epfd: epfd, file: os.NewFile(uintptr(epfd), "epoll"), clock: c, w: w, buf: make([]byte, 256<<10),
		streams: map[int32]*rawStream{}, exited: make(chan struct{})}
	raw, err := l.file.SyscallConn()
	if err != nil {
		l.file.Close()
		return nil, err
	}
	go l.run(raw)
	return l, nil
}

// open connects a reader to rawURL, sends the GET and waits for the
// response head: a stream is live once its head arrives.
func (l *evloop) open(r *reader, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", u.Host)
	if err != nil {
		return err
	}
	fd, err := dialRaw(addr, timeout)
	if err != nil {
		return err
	}
	if err := writeAll(fd, streamRequest(u.Host, u.RequestURI())); err != nil {
		unix.Close(fd)
		return fmt.Errorf("send the request: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	s := &rawStream{fd: fd, r: r, ready: make(chan error, 1)}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		unix.Close(fd)
		return errors.New("the event loop has stopped")
	}
	l.streams[int32(fd)] = s
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.forget(s)
		unix.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	r.closer = func() { l.stop() }
	select {
	case err := <-s.ready:
		return err
	case <-time.After(timeout):
		return errors.New("no response head in time")
	}
}

// dialRaw connects a blocking socket to addr (a loopback connect is done
// at once; the timeout bounds sending and a remote server).
func dialRaw(addr *net.TCPAddr, timeout time.Duration) (int, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: addr.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: addr.Port}
		copy(sa6.Addr[:], addr.IP.To16())
		sa = sa6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", addr, err)
	}
	return fd, nil
}

// writeAll writes b to a blocking socket.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// run reads every ready socket once, for as long as epoll reports any,
// then parks until the epoll descriptor is readable again; until stop.
func (l *evloop) run(raw syscall.RawConn) {
	defer close(l.exited)
	events := make([]unix.EpollEvent, 256)
	var werr error
	err := raw.Read(func(uintptr) bool {
		for {
			n, err := unix.EpollWait(l.epfd, events, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				werr = fmt.Errorf("epoll_wait: %w", err)
				return true
			}
			if n == 0 {
				return false // nothing ready: wait in the netpoller
			}
			for _, ev := range events[:n] {
				l.mu.Lock()
				s := l.streams[ev.Fd]
				l.mu.Unlock()
				if s != nil {
					l.readOnce(s)
				}
			}
		}
	})
	l.mu.Lock()
	stopping := l.stopped
	l.mu.Unlock()
	if werr == nil && !stopping {
		werr = fmt.Errorf("event loop: %w", err)
	}
	l.endAll(werr)
}

// readOnce reads what one socket has and hands every line to its reader.
func (l *evloop) readOnce(s *rawStream) {
	n, err := unix.Read(s.fd, l.buf)
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return
	case err != nil:
		l.end(s, err)
		return
	case n == 0:
		l.end(s, errors.New("server ended the stream"))
		return
	}
	p := l.buf[:n]
	if !s.headDone {
		if p, err = s.takeHead(p); err != nil {
			l.end(s, err)
			return
		}
		if !s.headDone {
			return
		}
	}
	now := l.clock.now()
	handle := func(line []byte) { s.r.handle(line, now, l.w) }
	split := func(body []byte) {
		if err == nil {
			err = s.lines.feed(body, handle)
		}
	}
	if s.chunked {
		if derr := s.dec.feed(p, split); derr != nil && err == nil {
			err = derr
		}
	} else {
		split(p)
	}
	if err != nil {
		l.end(s, err)
	}
}

// takeHead gathers the response head; once it is whole, it checks the
// status, signals ready and returns the body bytes that followed it.
func (s *rawStream) takeHead(p []byte) ([]byte, error) {
	s.head = append(s.head, p...)
	i := bytes.Index(s.head, []byte("\r\n\r\n"))
	if i < 0 {
		if len(s.head) > maxHead {
			return nil, errors.New("response head over 64 KiB")
		}
		return nil, nil
	}
	h, err := parseHead(s.head[:i])
	if err == nil && h.status != 200 {
		err = fmt.Errorf("stream: status %d", h.status)
	}
	if err != nil {
		s.ready <- err
		return nil, err
	}
	s.headDone, s.chunked = true, h.chunked
	body := s.head[i+4:]
	s.head = nil
	s.ready <- nil
	return body, nil
}

// end closes a stream the server, the network or a malformed response
// ended, and tells its reader why.
func (l *evloop) end(s *rawStream, err error) {
	if !s.headDone {
		select {
		case s.ready <- err:
		default:
		}
	}
	l.forget(s)
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	unix.Close(s.fd)
	if errors.Is(err, errBodyEnded) {
		err = errors.New("server ended the stream")
	}
	s.r.finish(err, l.clock.now())
}

func (l *evloop) forget(s *rawStream) {
	l.mu.Lock()
	delete(l.streams, int32(s.fd))
	l.mu.Unlock()
}

// endAll closes every stream still open (the run is over, err == nil), on
// the loop's goroutine.
func (l *evloop) endAll(err error) {
	l.mu.Lock()
	l.stopped = true
	streams := l.streams
	l.streams = map[int32]*rawStream{}
	l.mu.Unlock()
	for _, s := range streams {
		unix.Close(s.fd)
		if !s.headDone {
			s.ready <- errors.New("the event loop stopped")
		}
		s.r.finish(err, l.clock.now())
	}
	l.file.Close()
}

// stop ends the loop and every stream in it, and waits until it has.
// Calling it again does nothing more.
func (l *evloop) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.file.Close() // the parked Read returns
	<-l.exited
}
