package sbom

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// built is a Go binary with build information and modules, built once
// per test run: this module's verifier command (a test binary records no
// modules).
var built struct {
	once sync.Once
	path string
	err  error
}

func testBinary(t testing.TB) (path string, raw []byte) {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "sbom-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "verify-release")
		out, err := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", built.path, "../../cmd/verify-release").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	raw, err := os.ReadFile(built.path)
	if err != nil {
		t.Fatal(err)
	}
	return built.path, raw
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

func generated(t *testing.T, path, version string) *cdx.BOM {
	t.Helper()
	doc, err := ForBinary(path, version)
	if err != nil {
		t.Fatal(err)
	}
	bom, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	return bom
}

// The SBOM lists exactly the binary's modules: every module debug/buildinfo
// reads from the binary with its version and sum, the toolchain as "std",
// and nothing else; and it is written the same twice (no time, a serial
// number derived from the binary).
func TestSBOMIsTheBinarysBuildInfo(t *testing.T) {
	path, raw := testBinary(t)
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(bi.Deps) == 0 {
		t.Fatal("the test binary records no modules: nothing to compare")
	}
	bom := generated(t, path, "v1.2.3")
	if err := CheckBinary(bom, raw, "v1.2.3"); err != nil {
		t.Fatalf("the SBOM of a binary does not describe it: %v", err)
	}
	if got := len(*bom.Components); got != len(bi.Deps)+1 {
		t.Errorf("%d components, want the binary's %d modules and std", got, len(bi.Deps))
	}
	a, _ := ForBinary(path, "v1.2.3")
	b, _ := ForBinary(path, "v1.2.3")
	if string(a) != string(b) {
		t.Error("two SBOMs of the same binary differ")
	}
}

// Every way an SBOM can disagree with its binary is refused, with a reason
// that names what differs.
func TestCheckBinaryRefusesMismatches(t *testing.T) {
	path, raw := testBinary(t)
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dep := bi.Deps[0].Path
	cases := []struct {
		name   string
		change func(*cdx.BOM)
		want   string
	}{
		{"a module left out", func(b *cdx.BOM) { *b.Components = without(*b.Components, dep) }, dep},
		{"a module added", func(b *cdx.BOM) {
			*b.Components = append(*b.Components, cdx.Component{Name: "example.com/extra", Version: "v1.0.0"})
		}, "example.com/extra"},
		{"a module's version", func(b *cdx.BOM) { component(b, dep).Version = "v0.0.0-changed" }, dep},
		{"a module's hash", func(b *cdx.BOM) { (*component(b, dep).Hashes)[0].Value = strings.Repeat("0", 64) }, dep},
		{"a module listed twice", func(b *cdx.BOM) { *b.Components = append(*b.Components, *component(b, dep)) }, dep},
		{"the toolchain", func(b *cdx.BOM) { component(b, "std").Version = "go1.0" }, "std"},
		{"the toolchain property", func(b *cdx.BOM) { setProperty(b, "build:env:GOVERSION", "go1.0") }, "Go"},
		{"the binary's SHA-256", func(b *cdx.BOM) { setProperty(b, "binary:hash:SHA-256", strings.Repeat("0", 64)) }, "SHA-256"},
		{"the main module's version", func(b *cdx.BOM) { b.Metadata.Component.Version = "v9.9.9" }, "main module"},
		{"the main module", func(b *cdx.BOM) { b.Metadata.Component.Name = "example.com/other" }, "main module"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bom := generated(t, path, "v1.2.3")
			tc.change(bom)
			err := CheckBinary(bom, raw, "v1.2.3")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckBinary: %v, want a refusal naming %q", err, tc.want)
			}
		})
	}
	if err := CheckBinary(generated(t, path, "v1.2.3"), raw, "v1.2.4"); err == nil {
		t.Error("an SBOM of v1.2.3 accepted for v1.2.4")
	}
}

func without(comps []cdx.Component, name string) []cdx.Component {
	var out []cdx.Component
	for _, c := range comps {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

func component(b *cdx.BOM, name string) *cdx.Component {
	for i := range *b.Components {
		if (*b.Components)[i].Name == name {
			return &(*b.Components)[i]
		}
	}
	panic("no component " + name)
}

func setProperty(b *cdx.BOM, name, value string) {
	for i := range *b.Metadata.Properties {
		if (*b.Metadata.Properties)[i].Name == propPrefix+name {
			(*b.Metadata.Properties)[i].Value = value
		}
	}
}

// The image's SBOM holds each architecture's binary with its modules; a
// binary left out, added, or swapped with another's is refused.
func TestCheckImage(t *testing.T) {
	path, raw := testBinary(t)
	doc, err := ForImage("plugin", "v1.2.3", "sha256:"+strings.Repeat("a", 64), []ImageBinary{{"amd64", path}, {"arm64", path}})
	if err != nil {
		t.Fatal(err)
	}
	bom, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	both := map[string][]byte{"amd64": raw, "arm64": raw}
	if err := CheckImage(bom, both, "v1.2.3"); err != nil {
		t.Fatalf("the image's SBOM does not describe it: %v", err)
	}
	other := append([]byte(nil), raw...)
	other[len(other)-1] ^= 1
	for name, bins := range map[string]map[string][]byte{
		"a binary the SBOM lacks":  {"amd64": raw, "arm64": raw, "s390x": raw},
		"a binary the image lacks": {"amd64": raw},
		"another binary":           {"amd64": raw, "arm64": other},
	} {
		if err := CheckImage(bom, bins, "v1.2.3"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A downloaded SBOM is untrusted: any bytes are refused or accepted without
// a panic, and an accepted one lists exactly the binary's modules (read
// here straight from debug/buildinfo), the toolchain and nothing else.
func FuzzCheckBinary(f *testing.F) {
	path, raw := testBinary(f)
	doc, err := ForBinary(path, "v1.2.3")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"bomFormat":"CycloneDX","metadata":{"component":{"name":"x"}}}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","metadata":{"component":{}},"components":[{"hashes":null}]}`))
	bi, err := buildinfo.Read(bytes.NewReader(raw))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		bom, err := Parse(doc)
		if err != nil || CheckBinary(bom, raw, "v1.2.3") != nil {
			return
		}
		want := map[string]bool{"std": true}
		for _, d := range bi.Deps {
			want[d.Path] = true
		}
		for _, c := range *bom.Components {
			if !want[c.Name] {
				t.Fatalf("accepted an SBOM listing %s", c.Name)
			}
			delete(want, c.Name)
		}
		if len(want) != 0 {
			t.Fatalf("accepted an SBOM without %v", want)
		}
	})
}
