package packdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/csvin"
)

func TestPack(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/x.csv", "n,t\n1,0.5\n2,0.25\n")
	write("b/y.csv", "s,v\nab,3\n")
	write("b/notes.md", "not a csv\n")
	if err := Pack(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a/x.csv", "b/y.csv"} {
		csv, _ := os.ReadFile(filepath.Join(dir, name))
		pk, err := os.ReadFile(filepath.Join(dir, name+csvin.PackSuffix))
		if err != nil {
			t.Fatalf("%s: no pack written: %v", name, err)
		}
		back, err := csvin.Unpack(pk, name)
		if err != nil || string(back) != string(csv) {
			t.Errorf("%s: pack gives back %q (%v), want %q", name, back, err, csv)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "b/notes.md"+csvin.PackSuffix)); err == nil {
		t.Error("a non-CSV file was packed")
	}

	write("c/bad.csv", "n,t\n1\n")
	if err := Pack(filepath.Join(dir, "c")); err == nil || !strings.Contains(err.Error(), "bad.csv") {
		t.Errorf("ragged CSV: err = %v, want one naming bad.csv", err)
	}
	write("d/quoted.txt", "s\n\"a,b\"\n")
	if err := Pack(filepath.Join(dir, "d", "quoted.txt")); err == nil {
		t.Error("a file named outright that is not a quote-free CSV packed without error")
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Pack(empty); err == nil || !strings.Contains(err.Error(), "no .csv") {
		t.Errorf("empty folder: err = %v, want no .csv", err)
	}
}
