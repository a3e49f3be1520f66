// Package packdir writes the packed forms (engine/csvin's lossless columnar
// encoding, attention.csv -> attention.csv.pack) that the profiles package
// embeds instead of its CSVs, so that every tool writing a profile set
// leaves its packs current.
package packdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/servesim/servesim/engine/csvin"
)

// csvs lists path itself for a file, or every .csv file under a folder, in
// lexical order (an error for a folder without one).
func csvs(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var names []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".csv") {
			names = append(names, p)
		}
		return err
	})
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("%s: no .csv file under it", path)
	}
	return names, err
}

// Pack writes the pack of each CSV that path names (a file, or every CSV
// under a folder) beside it. It stops at the first CSV that does not pack
// byte for byte (quotes, carriage returns, ragged rows), naming it.
func Pack(path string) error {
	names, err := csvs(path)
	if err != nil {
		return err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		pk, err := csvin.Pack(b, name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(name+csvin.PackSuffix, pk, 0o644); err != nil {
			return fmt.Errorf("writing %s's pack: %w", name, err)
		}
	}
	return nil
}
