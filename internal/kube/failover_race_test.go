package kube

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lateTransport is an address whose answer's first byte arrives after
// firstByte (never, when negative), and whose sending goroutine gets back
// from RoundTrip only returnAfter later: a busy machine that did not
// schedule it. It keeps the attempt's context, to see whether the attempt
// cancels it after an answer it kept.
type lateTransport struct {
	firstByte, returnAfter time.Duration
	ctx                    chan context.Context
}

func (l *lateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	l.ctx <- r.Context()
	if l.firstByte < 0 {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	select {
	case <-time.After(l.firstByte):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	time.Sleep(l.returnAfter)
	return &http.Response{StatusCode: http.StatusCreated, Body: io.NopCloser(strings.NewReader("{}"))}, nil
}

// The invariant of an attempt's timeout, over when the answer's first byte
// arrives and how long the sender then takes to get back: the answer is
// kept exactly when its first byte came before the timeout, whatever the
// delay after it, and a kept answer's context is never canceled by the
// timer (its body is still to be read). An answer that came too late, or
// none, is a timeout.
func TestAttemptTimeoutJudgesTheFirstByte(t *testing.T) {
	const timeout = 300 * time.Millisecond
	firstBytes := []time.Duration{0, timeout / 6, 3 * timeout, -1}
	delays := []time.Duration{0, timeout / 2, 2 * timeout}
	for _, fb := range firstBytes {
		for _, delay := range delays {
			t.Run(fmt.Sprintf("first-byte=%v/return-after=%v", fb, delay), func(t *testing.T) {
				t.Parallel()
				next := &lateTransport{firstByte: fb, returnAfter: delay, ctx: make(chan context.Context, 1)}
				base, _ := url.Parse("https://api.example:6443")
				f := &failover{pool: newAddressPool([]*url.URL{base}, nil), primary: base, next: next, attemptTimeout: timeout}
				defer f.pool.close()
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.example:6443/apis", http.NoBody)

				resp, err := f.attempt(req, 0, timeout)
				attemptCtx := <-next.ctx
				inTime := fb >= 0 && fb < timeout
				if !inTime {
					var te *attemptTimeoutError
					if !errors.As(err, &te) || resp != nil {
						t.Fatalf("an answer at %v of a %v timeout: got %v, %v; want the attempt's timeout", fb, timeout, resp, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("an answer at %v of a %v timeout, back after %v more: %v; want the answer", fb, timeout, delay, err)
				}
				defer resp.Body.Close()
				select {
				case <-attemptCtx.Done():
					t.Fatalf("the kept answer's context was canceled before its body was read: %v", context.Cause(attemptCtx))
				case <-time.After(timeout):
				}
			})
		}
	}
}

// The timeout's judge is the transport's report of the first byte: the
// plugin's transport makes it over HTTP/1.1 and HTTP/2 alike, on every
// answer, or a slow return would again cost a good answer.
func TestTransportReportsTheFirstByte(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusCreated)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			tr, err := newTransport(tlsOptions{caPEM: string(caPEM)}, newConnSet())
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			for i := range 3 {
				var reported atomic.Bool
				ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { reported.Store(true) }})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/apis", http.NoBody)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if wantMajor := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != wantMajor {
					t.Fatalf("answered over %s, want HTTP/%d", resp.Proto, wantMajor)
				}
				if !reported.Load() {
					t.Fatalf("call %d over %s: the transport did not report the first byte", i, resp.Proto)
				}
			}
		})
	}
}
