package sharedtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck_NamesWhereItMustBe(t *testing.T) {
	root := t.TempDir()
	checkout := filepath.Join(root, "servesim")
	os.Mkdir(checkout, 0o755)
	want := filepath.Join(root, "shared")
	_, err := check(want, checkout)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "beside the checkout "+checkout) {
		t.Fatalf("missing folder: %v", err)
	}
	os.WriteFile(want, nil, 0o644)
	if _, err := check(want, checkout); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("a file in its place: %v", err)
	}
	os.Remove(want)
	os.Mkdir(want, 0o755)
	if got, err := check(want, checkout); err != nil || got != want {
		t.Fatalf("present: %q, %v", got, err)
	}
}
