package realstack

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// echoServer answers every line it reads with the same line, on loopback:
// the far end of a tunnel.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// connect sends a CONNECT for target to the proxy with the given
// Proxy-Authorization ("" for none) and returns the status and the
// connection, open for the tunnel when the status is 200.
func connect(t *testing.T, p *Proxy, target, auth string) (int, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if auth != "" {
		req += "Proxy-Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	_ = resp.Body.Close() // a CONNECT answer has no body: the tunnel follows
	if resp.StatusCode == http.StatusProxyAuthRequired && resp.Header.Get("Proxy-Authenticate") == "" {
		t.Errorf("a 407 without Proxy-Authenticate")
	}
	return resp.StatusCode, c, br
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// The proxy tunnels a CONNECT only with its credentials, and counts both
// kinds; a tunnel carries bytes both ways until Close cuts it.
func TestProxyRequiresCredentialsAndCountsTunnels(t *testing.T) {
	p, err := StartProxy(ProxyOptions{User: "vault", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	target := echoServer(t)

	for _, auth := range []string{"", basic("vault", "wrong"), basic("other", "s3cret"), "Bearer s3cret", "Basic !!"} {
		if code, _, _ := connect(t, p, target, auth); code != http.StatusProxyAuthRequired {
			t.Errorf("CONNECT with Proxy-Authorization %q: HTTP %d, want 407", auth, code)
		}
	}
	if p.Refused() != 5 || p.Connects() != 0 {
		t.Fatalf("refused %d, connects %d: want 5 and 0", p.Refused(), p.Connects())
	}

	code, c, br := connect(t, p, target, basic("vault", "s3cret"))
	if code != http.StatusOK {
		t.Fatalf("CONNECT with the credentials: HTTP %d", code)
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("through the tunnel: %q, %v", line, err)
	}
	if p.Connects() != 1 || !slices.Equal(p.Targets(), []string{target}) {
		t.Fatalf("connects %d, targets %v: want 1 and [%s]", p.Connects(), p.Targets(), target)
	}
	if p.URL("vault", "s3cret") != "http://vault:s3cret@"+p.Addr || p.URL("", "") != "http://"+p.Addr {
		t.Errorf("URLs %q and %q", p.URL("vault", "s3cret"), p.URL("", ""))
	}

	p.Close()
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("the tunnel still carries bytes after Close")
	}
}

// Without credentials configured, any CONNECT is tunneled.
func TestProxyWithoutCredentials(t *testing.T) {
	p, err := StartProxy(ProxyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if code, _, _ := connect(t, p, echoServer(t), ""); code != http.StatusOK || p.Connects() != 1 {
		t.Fatalf("HTTP %d, connects %d", code, p.Connects())
	}
}
