package kube

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testClient is a client of srv, trusting its certificate.
func testClient(t *testing.T, srv *httptest.Server, cred Credential, timeout time.Duration) *Client {
	t.Helper()
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	k, err := New(Options{Host: srv.URL, CAPEM: string(pemCert), Credential: cred, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// status answers with a metav1.Status, as the API server does for errors.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, code, metav1.Status{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status:   metav1.StatusFailure,
			Message:  http.StatusText(code),
			Reason:   metav1.StatusReason(http.StatusText(code)),
			Code:     int32(code),
		})
	}
}
