package measure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FetchProfile GETs a CPU profile (which answers after d) into file.
func FetchProfile(ctx context.Context, url, token, file string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 64<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PprofTop is `go tool pprof -top` of a profile, by flat and by cumulative
// time. The profiles carry their own symbols (the Go runtime writes
// function names into them), so the binaries are not needed.
func PprofTop(file string) (string, error) {
	var b strings.Builder
	for _, args := range [][]string{
		{"tool", "pprof", "-top", "-nodecount=25", file},
		{"tool", "pprof", "-top", "-cum", "-nodecount=25", file},
	} {
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		b.WriteString("$ go " + strings.Join(args[:len(args)-1], " ") + " " + filepath.Base(file) + "\n")
		b.Write(out)
		b.WriteString("\n")
	}
	return b.String(), nil
}
