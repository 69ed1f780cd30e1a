// Package sums reads and writes a release's SHA256SUMS file, in the format
// `sha256sum -c` checks: one "<hex>  <name>" line per file, sorted by name.
package sums

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Sums maps a file's name, relative to the release directory with forward
// slashes, to its SHA-256 in lower-case hex.
type Sums map[string]string

// Format writes sums sorted by name, so that the same files always give the
// same bytes.
func Format(s Sums) []byte {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", s[n], n)
	}
	return []byte(b.String())
}

// Parse reads a SHA256SUMS file. It refuses what sha256sum would not check
// the same way: a line that is not a digest, two spaces and a name, a name
// that climbs out of the directory, and a name listed twice.
func Parse(raw []byte) (Sums, error) {
	s := Sums{}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || !isHexSHA256(sum) || name == "" {
			return nil, fmt.Errorf("line %d is not \"<sha256>  <file>\"", i+1)
		}
		if strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") {
			return nil, fmt.Errorf("line %d names %q, outside the release directory", i+1, name)
		}
		if _, dup := s[name]; dup {
			return nil, fmt.Errorf("line %d lists %s a second time", i+1, name)
		}
		s[name] = sum
	}
	return s, nil
}

func isHexSHA256(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// Bytes is the SHA-256 of b in hex.
func Bytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// File is the SHA-256 of the file at path in hex.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
