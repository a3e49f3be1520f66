package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServe runs `servesim serve` on a free loopback port with args and
// returns its address; the server stops when the test ends.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--dist", ""}, args...), pw, io.Discard)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "servesim: serving on ")), "http://")
}

// closedWithin reports whether the server closes conn within d (reading
// whatever it sends first, a 408 say).
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return err == nil || !errors.As(err, &ne) || !ne.Timeout()
}

// TestServe_SlowBodyIsCut: a client sending its body at a trickle is cut
// off by the read timeout instead of holding a connection for ever.
func TestServe_SlowBodyIsCut(t *testing.T) {
	addr := startServe(t, "--read_timeout", "500ms")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /api/workload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	if !closedWithin(t, conn, 20*time.Second) {
		t.Error("a request whose body never ends was still open after 20 s with --read_timeout 500ms")
	}
}

// TestServe_IdleKeepAliveIsClosed: an idle keep-alive connection is closed
// after the idle timeout.
func TestServe_IdleKeepAliveIsClosed(t *testing.T) {
	addr := startServe(t, "--idle_timeout", "500ms")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /api/profiles HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if !closedWithin(t, conn, 20*time.Second) {
		t.Error("an idle keep-alive connection was still open after 20 s with --idle_timeout 500ms")
	}
}

// TestServe_ConnectionCap: with --max_conns 2, two silent connections hold
// both places and a third client is not served until one closes.
func TestServe_ConnectionCap(t *testing.T) {
	addr := startServe(t, "--max_conns", "2")
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	get := func(timeout time.Duration) error {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + addr + "/api/profiles")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := get(time.Second); err == nil {
		t.Fatal("a third connection was served while two held both places")
	}
	held[0].Close()
	if err := get(20 * time.Second); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}
