// Package sharedtest locates the steering repo's shared folder (reference
// runs, Vidur's public data) for tests. It sits beside the checkout, as CI
// lays it out: <checkout>/../shared. A test that needs it and does not find
// it fails with one message saying where it must be.
package sharedtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of the shared folder, failing t with a
// message naming the expected location when it is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := locate()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Path returns the absolute path of rel inside the shared folder, failing t
// with a message naming the expected location when the folder or the file is
// missing.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("this test reads %s from the steering repo's shared folder, which lacks it: %v", rel, err)
	}
	return p
}

// Open opens rel inside the shared folder (see Path) and closes it when the
// test ends.
func Open(t testing.TB, rel string) *os.File {
	t.Helper()
	f, err := os.Open(Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// locate finds the module root (the folder holding go.mod, upwards from the
// working directory) and the shared folder beside it.
func locate() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			return "", fmt.Errorf("sharedtest: no go.mod above %s", wd)
		}
		root = up
	}
	return check(filepath.Join(filepath.Dir(root), "shared"), root)
}

// check says whether dir is a shared folder, with the hint when it is not.
func check(dir, root string) (string, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("this test needs the steering repo's shared folder (reference runs, Vidur's public data) at %s, beside the checkout %s; it is missing: put or link it there (CI lays it out so)", dir, root)
	case err != nil:
		return "", fmt.Errorf("the shared folder %s: %w", dir, err)
	case !st.IsDir():
		return "", fmt.Errorf("the shared folder %s (beside the checkout %s) is not a directory", dir, root)
	}
	return dir, nil
}
