package csvin

import (
	"bytes"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"
)

// PackedFS serves fsys with every X.csv that fsys lacks but holds as
// X.csv.pack: opening X.csv unpacks it (the CSV's exact bytes), and
// OpenTable reads the pack directly. fs.Sub of it stays packed.
func PackedFS(fsys fs.FS) fs.FS { return packedFS{fsys} }

type packedFS struct{ fsys fs.FS }

func (p packedFS) Open(name string) (fs.File, error) {
	f, err := p.fsys.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasSuffix(name, ".csv") {
		return f, err
	}
	b, rerr := fs.ReadFile(p.fsys, name+PackSuffix)
	if rerr != nil {
		return nil, err
	}
	csv, uerr := Unpack(b, name+PackSuffix)
	if uerr != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: uerr}
	}
	return &memFile{Reader: bytes.NewReader(csv), name: path.Base(name), size: int64(len(csv))}, nil
}

// Sub keeps the packed view under a folder (fs.Sub calls it).
func (p packedFS) Sub(dir string) (fs.FS, error) {
	s, err := fs.Sub(p.fsys, dir)
	if err != nil {
		return nil, err
	}
	return packedFS{s}, nil
}

// packOf is the pack that stands in for name in fsys, if one does.
func packOf(fsys fs.FS, name string) ([]byte, bool, error) {
	p, ok := fsys.(packedFS)
	if !ok {
		return nil, false, nil
	}
	if _, err := fs.Stat(p.fsys, name); !errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil // the CSV itself (or another error, which opening it reports)
	}
	b, err := fs.ReadFile(p.fsys, name+PackSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// OpenTable opens a CSV in fsys as a Table after its header (file names it
// in messages): from its pack where PackedFS serves it from one, with no
// text to split or parse. close releases it once its rows are read.
func OpenTable(fsys fs.FS, name, file string) (t *Table, close func() error, err error) {
	if b, ok, err := packOf(fsys, name); ok || err != nil {
		if err != nil {
			return nil, nil, &Error{File: file + PackSuffix, Want: "the profile file", Got: err.Error()}
		}
		t, err := ReadPacked(b, file)
		return t, func() error { return nil }, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	t, err = ReadHeader(f, file)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return t, f.Close, nil
}

// memFile is an unpacked CSV opened from a PackedFS.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f.name, f.size}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
