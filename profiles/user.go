package profiles

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
)

// For names what a user's profile folder is for: it carries only CSVs, so
// the model and device come from the run's configuration
// (replica_config_model_name, replica_config_device and
// replica_config_network_device).
type For struct {
	Model, Device, NetworkDevice string
}

// UserFiles are the files a user's profile set may hold: Vidur's schemas
// (mlp.csv and attention.csv required; cpu_overheads.csv; all_reduce.csv
// and send_recv.csv for the network of For.NetworkDevice), servesim's
// optional extensions, and provenance text.
var UserFiles = []string{"mlp.csv", "attention.csv", "cpu_overheads.csv", "all_reduce.csv", "send_recv.csv",
	"engine.json", "host_overheads.csv", "profile.json", "PROVENANCE.md", "PROVENANCE.txt", "provenance.md", "provenance.txt"}

// NoProvenance is the provenance text of a user's set that gave none.
const NoProvenance = "No provenance was given with this profile set: its times are the user's own, not checked against a GPU by servesim."

// OpenUser makes a profile set of a user's folder: with a profile.json it
// is a full set (as the embedded ones); without, a set of kind "user" for
// f's model and device, whose provenance is the folder's PROVENANCE.md (or
// .txt) if any. Every table is read before it is returned, so a broken file
// is reported with its file, line and column, as for the embedded sets.
func OpenUser(fsys fs.FS, origin string, f For) (*predict.Set, error) {
	var set *predict.Set
	var err error
	if _, serr := fs.Stat(fsys, "profile.json"); serr == nil {
		if set, err = predict.Open(fsys, origin); err != nil {
			return nil, err
		}
	} else {
		for _, need := range []string{"mlp.csv", "attention.csv"} {
			if _, err := fs.Stat(fsys, need); err != nil {
				return nil, &csvin.Error{File: path.Join(origin, need), Want: "mlp.csv and attention.csv in Vidur's schemas (a profile folder without profile.json)",
					Got: "no such file; the folder has: " + strings.Join(listFiles(fsys), ", ")}
			}
		}
		prov := NoProvenance
		for _, name := range []string{"PROVENANCE.md", "PROVENANCE.txt", "provenance.md", "provenance.txt"} {
			if b, err := fs.ReadFile(fsys, name); err == nil {
				prov = string(b)
				break
			}
		}
		summary := strings.TrimSpace(strings.SplitN(strings.TrimSpace(prov), "\n", 2)[0])
		if len(summary) > 200 {
			summary = summary[:200] + "…"
		}
		meta := predict.Meta{Name: "user:" + path.Base(origin), Model: f.Model, Device: f.Device, NetworkDevice: f.NetworkDevice,
			Kind: predict.KindUser, Summary: "USER-SUPPLIED: " + summary}
		if _, err := fs.Stat(fsys, "cpu_overheads.csv"); err == nil {
			meta.CPUOverheadEngine = "user-supplied cpu_overheads.csv"
		}
		if set, err = predict.NewSet(fsys, origin, meta, prov); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"all_reduce.csv", "send_recv.csv"} {
		if _, err := fs.Stat(fsys, n); err == nil {
			set.Network = nodeFS{node: set.Meta.NetworkDevice, fsys: fsys}
		}
	}
	network := set.Network
	if network == nil {
		network = Embedded().Network()
	}
	if err := Check(set, network); err != nil {
		return nil, err
	}
	return set, nil
}

// OpenUserDir opens a user's profile folder on disk (see OpenUser).
func OpenUserDir(dir string, f For) (*predict.Set, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("profile set %s: not a directory", dir)
	}
	return OpenUser(os.DirFS(dir), dir, f)
}

// OpenUserFiles makes a profile set of uploaded files (by base name; a
// folder dropped on the page sends its files). Only UserFiles are taken;
// anything else, or a name given twice, is refused.
func OpenUserFiles(files map[string][]byte, f For) (*predict.Set, error) {
	m := memFS{}
	for name, b := range files {
		base := path.Base(strings.ReplaceAll(name, "\\", "/"))
		known := false
		for _, u := range UserFiles {
			known = known || u == base
		}
		if !known {
			return nil, &csvin.Error{File: name, Want: "a profile file: one of " + strings.Join(UserFiles, ", "), Got: "another name"}
		}
		if _, dup := m[base]; dup {
			return nil, &csvin.Error{File: name, Want: "each profile file once", Got: "a second " + base}
		}
		m[base] = b
	}
	return OpenUser(m, "uploaded", f)
}

// IsUserFile reports whether a file name is one of a profile set's (so a
// host can tell a dropped profile folder from workload files).
func IsUserFile(name string) bool {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	for _, u := range UserFiles {
		if u == base {
			return true
		}
	}
	return false
}

func listFiles(fsys fs.FS) []string {
	entries, _ := fs.ReadDir(fsys, ".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return []string{"no files"}
	}
	return names
}

// nodeFS serves a user set's network CSVs as the network profiles of one
// node (<node>/all_reduce.csv, <node>/send_recv.csv).
type nodeFS struct {
	node string
	fsys fs.FS
}

func (n nodeFS) Open(name string) (fs.File, error) {
	dir, file := path.Split(name)
	if strings.TrimSuffix(dir, "/") != n.node {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("the profile set's network CSVs are for node %s: %w", n.node, fs.ErrNotExist)}
	}
	return n.fsys.Open(file)
}

// memFS is a read-only flat file system of uploaded files.
type memFS map[string][]byte

func (m memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		var names []string
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		return &memDir{names: names, m: m}, nil
	}
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{Reader: bytes.NewReader(b), info: memInfo{name: name, size: int64(len(b))}}, nil
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	names []string
	m     memFS
	next  int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return memInfo{name: ".", dir: true}, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
func (d *memDir) Close() error { return nil }
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n > 0 && d.next >= len(d.names) {
		return nil, io.EOF
	}
	out := []fs.DirEntry{}
	for d.next < len(d.names) && (n <= 0 || len(out) < n) {
		name := d.names[d.next]
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: name, size: int64(len(d.m[name]))}))
		d.next++
	}
	return out, nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
