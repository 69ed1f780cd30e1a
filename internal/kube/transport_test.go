package kube

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A redirect is not followed: the bearer token never reaches the other
// host, and the error names where it pointed without its path or query,
// which may hold secrets.
func TestRedirectRefused(t *testing.T) {
	var called atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called.Store(true)
	}))
	defer elsewhere.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal?token=secret", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	k := testClient(t, srv, StaticToken("reviewer"), 30*time.Second)

	_, err := k.Review(t.Context(), "the-jwt", nil)
	if called.Load() {
		t.Fatal("the redirect was followed: the other host received the request")
	}
	var api *APIError
	if !errors.As(err, &api) || api.Redirect == nil {
		t.Fatalf("error %v, want an *APIError with Redirect", err)
	}
	if api.Redirect.Status != http.StatusTemporaryRedirect || api.Redirect.To != elsewhere.URL {
		t.Fatalf("redirect %+v, want %d to %s", *api.Redirect, http.StatusTemporaryRedirect, elsewhere.URL)
	}
	if msg := err.Error(); !strings.Contains(msg, "redirects are not followed") || strings.Contains(msg, "secret") {
		t.Fatalf("message %q", msg)
	}
}

// A closed client keeps its connections while a request still uses it,
// and reports which call retired it.
func TestCloseWaitsForRelease(t *testing.T) {
	k, err := New(Options{Host: "127.0.0.1:1", Credential: LoginJWT{}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k.Acquire()
	if k.Release() {
		t.Fatal("Release retired a client nobody closed")
	}
	k.Acquire()
	if k.Close() {
		t.Fatal("Close retired a client still in use")
	}
	if !k.Release() {
		t.Fatal("the last Release after Close did not retire the client")
	}
	unused, err := New(Options{Host: "127.0.0.1:1", Credential: LoginJWT{}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !unused.Close() {
		t.Fatal("Close of an unused client did not retire it")
	}
}

// closeAll closes every tracked connection, and one dialed after it too.
func TestConnSetCloseAll(t *testing.T) {
	s := newConnSet()
	ours, theirs := net.Pipe()
	s.track(ours)
	s.closeAll()
	requirePeerClosed(t, theirs)
	late, lateTheirs := net.Pipe()
	s.track(late)
	requirePeerClosed(t, lateTheirs)
}

// requirePeerClosed reads from the far end of a pipe: EOF once our end is
// closed. The deadline only keeps a regression from hanging the run.
func requirePeerClosed(t *testing.T, peer net.Conn) {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from the peer: %v, want EOF (the connection was not closed)", err)
	}
}
