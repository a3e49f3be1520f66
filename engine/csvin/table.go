package csvin

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Table reads a headed CSV file row by row, keeping positions for errors.
//
// Lines without a quote character are split at commas directly, which is
// what encoding/csv makes of them (a profile's attention table is ~10k such
// lines, and in the page's wasm encoding/csv's per-byte loop was most of its
// parse); from the first line with a quote on, encoding/csv reads the rest,
// so quoted fields, bare-quote errors and their positions are its own.
type Table struct {
	file   string
	br     *bufio.Reader
	r      *csv.Reader // nil until a line has a quote
	base   int         // lines read before r took over
	lines  int         // lines read directly
	long   []byte      // a line longer than br's buffer
	header []string
	index  map[string]int
	// recent are the columns looked up so far, in the order first asked,
	// and next the one after the last found: a loop reads the same columns
	// in the same order every row, so a read finds its column at next with
	// one comparison of names (a caller's constant is the same string every
	// row: a length and pointer check) instead of hashing the name per
	// cell, which in the page's wasm was a tenth of the default profile's
	// parse.
	recent []colIndex
	next   int
	rec    []string
	line   int // line of the current row
	// pk, when set, holds the table's cells (ReadPacked) and row the
	// current row's index in it.
	pk  *packed
	row int
}

// colIndex is a looked-up column.
type colIndex struct {
	name string
	i    int
}

// maxRecent bounds Table.recent (a longer list scans slower than a hash).
const maxRecent = 24

// ReadHeader opens a CSV stream, strips a UTF-8 byte-order mark and reads the
// header line. An empty stream is an error.
func ReadHeader(r io.Reader, file string) (*Table, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	t := &Table{file: file, br: br, index: map[string]int{}}
	h, _, err := t.read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{File: file, Line: 1, Want: "a CSV header line", Got: "an empty file"}
	}
	if err != nil {
		return nil, t.csvErr(err)
	}
	if err := t.setHeader(h); err != nil {
		return nil, err
	}
	return t, nil
}

// setHeader takes the header line's cells as the column names, trimmed.
func (t *Table) setHeader(h []string) error {
	t.line = 1
	t.header = append([]string(nil), h...)
	for i, name := range t.header {
		name = strings.TrimSpace(name)
		t.header[i] = name
		if _, dup := t.index[name]; dup && name != "" {
			return &Error{File: t.file, Line: 1, Col: i + 1, Column: name, Want: "unique column names", Got: "a duplicate column"}
		}
		t.index[name] = i
	}
	return nil
}

// Scan reads a whole CSV from r (named file in messages): the header must
// hold cols, then row is called for every record in order. The first error
// (the reader's, the header's or row's) ends it; io.EOF is not an error.
func Scan(r io.Reader, file string, row func(*Table) error, cols ...string) error {
	t, err := ReadHeader(r, file)
	if err != nil {
		return err
	}
	if err := t.Require(cols...); err != nil {
		return err
	}
	for {
		err := t.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := row(t); err != nil {
			return err
		}
	}
}

// Has reports whether the header has the column.
func (t *Table) Has(col string) bool { _, ok := t.index[col]; return ok }

// col is the index of a column in the header (0 for one it lacks, as a
// map lookup gives; callers Require their columns).
func (t *Table) col(name string) int {
	if t.next < len(t.recent) && t.recent[t.next].name == name {
		t.next++
		return t.recent[t.next-1].i
	}
	for k, c := range t.recent {
		if c.name == name {
			t.next = k + 1
			return c.i
		}
	}
	i := t.index[name]
	if len(t.recent) < maxRecent {
		t.recent = append(t.recent, colIndex{name, i})
		t.next = len(t.recent)
	}
	return i
}

// Require checks that every named column is present.
func (t *Table) Require(cols ...string) error {
	for _, c := range cols {
		if !t.Has(c) {
			return &Error{File: t.file, Line: 1, Column: c, Want: fmt.Sprintf("a column %q in the header", c), Got: strings.Join(t.header, ",")}
		}
	}
	return nil
}

// Next reads the next data row; it returns io.EOF at the end. Blank lines
// are skipped by encoding/csv. A row with a different field count than the
// header is an error.
func (t *Table) Next() error {
	if t.pk != nil {
		if t.row+1 >= t.pk.rows {
			t.row = t.pk.rows
			return io.EOF
		}
		t.row++
		t.line = t.row + 2
		return nil
	}
	rec, line, err := t.read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return t.csvErr(err)
	}
	t.rec = rec
	t.line = line
	if len(rec) != len(t.header) {
		return &Error{File: t.file, Line: t.line, Want: fmt.Sprintf("%d fields as in the header", len(t.header)), Got: fmt.Sprintf("%d fields", len(rec))}
	}
	return nil
}

// read reads the next record and the line it starts on, as an
// encoding/csv Reader with FieldsPerRecord -1 and ReuseRecord would: blank
// lines skipped, "\r\n" read as "\n", a "\r" before the end of the file
// dropped.
func (t *Table) read() ([]string, int, error) {
	for t.r == nil {
		raw, err := t.readLine()
		if err != nil {
			return nil, 0, err
		}
		if bytes.IndexByte(raw, '"') >= 0 {
			// encoding/csv reads from this line on, as it came (its line
			// numbers count from it).
			t.base = t.lines - 1
			t.r = csv.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(raw)), t.br))
			t.r.FieldsPerRecord = -1
			t.r.ReuseRecord = true
			break
		}
		line := raw
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
			if n >= 2 && line[n-2] == '\r' {
				line = line[:n-2]
			}
		} else if n > 0 && line[n-1] == '\r' { // before the end of the file: dropped, as encoding/csv does
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue // a blank line
		}
		str := string(line) // one allocation for all fields, as encoding/csv
		rec := t.rec[:0]
		for {
			i := strings.IndexByte(str, ',')
			if i < 0 {
				break
			}
			rec = append(rec, str[:i])
			str = str[i+1:]
		}
		return append(rec, str), t.lines, nil
	}
	rec, err := t.r.Read()
	if err != nil {
		return nil, 0, err
	}
	line, _ := t.r.FieldPos(0)
	return rec, t.base + line, nil
}

// readLine reads one line as it is, its newline included (none at the end
// of the file); io.EOF once nothing is left.
func (t *Table) readLine() ([]byte, error) {
	line, err := t.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		t.long = append(t.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = t.br.ReadSlice('\n')
			t.long = append(t.long, line...)
		}
		line = t.long
	}
	if len(line) > 0 && err == io.EOF {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	t.lines++
	return line, nil
}

func (t *Table) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		// Col stays the field number everywhere; a syntax error has only a
		// character position, which goes into the message.
		return &Error{File: t.file, Line: t.base + pe.Line, Want: "well-formed CSV", Got: fmt.Sprintf("%v at character %d", pe.Err, pe.Column)}
	}
	return fmt.Errorf("read %s: %w", t.file, err)
}

// Field returns the trimmed cell of a column in the current row and its
// 1-based field number.
func (t *Table) Field(col string) (string, int) { return t.fieldAt(t.col(col)) }

// fieldAt is Field of the column at index i.
func (t *Table) fieldAt(i int) (string, int) {
	var s string
	if t.pk != nil {
		s = t.pk.cell(i, t.row)
	} else {
		s = t.rec[i]
	}
	// The common cell starts and ends in a printable ASCII byte: nothing
	// to trim (every space TrimSpace trims begins and ends outside it).
	if n := len(s); n > 0 && s[0]-'!' < 0x7f-'!' && s[n-1]-'!' < 0x7f-'!' {
		return s, i + 1
	}
	return strings.TrimSpace(s), i + 1
}

// Constant reports whether every row holds the same cell in a column, and
// that cell (as Field gives it). Only a packed table knows before its rows
// are read; a CSV's answer is always false.
func (t *Table) Constant(col string) (string, bool) {
	if t.pk == nil || t.pk.rows == 0 || !t.Has(col) {
		return "", false
	}
	i := t.index[col]
	if !t.pk.constant(i) {
		return "", false
	}
	row := t.row
	t.row = 0
	s, _ := t.fieldAt(i)
	t.row = row
	return s, true
}

// IntAtLeast parses a column as an integer >= min.
func (t *Table) IntAtLeast(col string, min int64) (int64, error) {
	i := t.col(col)
	if t.pk != nil {
		// A packed number's digits are its integer when nothing follows
		// a point (m < 10^15: what parseInt reads of the same text).
		if _, m, k, ok := t.pk.number(i, t.row); ok && k == 0 && int64(m) >= min {
			return int64(m), nil
		}
	}
	s, c := t.fieldAt(i)
	v, err := parseInt(s)
	if err != nil || v < min {
		return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: fmt.Sprintf("an integer >= %d", min), Got: Quote(s)}
	}
	return v, nil
}

// NonNegFloat parses a column as a finite number >= 0.
func (t *Table) NonNegFloat(col string) (float64, error) {
	i := t.col(col)
	if t.pk != nil {
		if v, _, _, ok := t.pk.number(i, t.row); ok { // finite and >= 0
			return v, nil
		}
	}
	s, c := t.fieldAt(i)
	v, err := parseFloat(s)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: "a finite number >= 0", Got: Quote(s)}
	}
	return v, nil
}

// ErrAt builds an Error at a column of the current row.
func (t *Table) ErrAt(col, want, got string) error {
	_, c := t.Field(col)
	return &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: want, Got: got}
}

// Quote renders a cell for a message, shortening long ones.
func Quote(s string) string {
	if s == "" {
		return "an empty cell"
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// Line is the 1-based line number of the current row.
func (t *Table) Line() int { return t.line }

// File is the name used in messages.
func (t *Table) File() string { return t.file }

// Header returns the column names.
func (t *Table) Header() []string { return t.header }

// Float parses a column as a finite number; ok is false for an empty cell.
func (t *Table) Float(col string) (v float64, ok bool, err error) {
	i := t.col(col)
	if t.pk != nil {
		if v, _, _, ok := t.pk.number(i, t.row); ok { // finite
			return v, true, nil
		}
	}
	s, c := t.fieldAt(i)
	if s == "" {
		return 0, false, nil
	}
	v, perr := parseFloat(s)
	if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: "a finite number", Got: Quote(s)}
	}
	return v, true, nil
}

// MaxTimingMs bounds a timing cell: an hour per operator is far past any
// real kernel and keeps every sum of simulated times inside int64.
const MaxTimingMs = 3.6e6

// PositiveFloat parses a column as a finite number in (0, MaxTimingMs] (a
// timing cell, in ms).
func (t *Table) PositiveFloat(col string) (float64, error) {
	i := t.col(col)
	if t.pk != nil {
		if v, _, _, ok := t.pk.number(i, t.row); ok && v > 0 && v <= MaxTimingMs {
			return v, nil
		}
	}
	s, c := t.fieldAt(i)
	v, err := parseFloat(s)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: "a finite number > 0", Got: Quote(s)}
	}
	if v > MaxTimingMs {
		return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: fmt.Sprintf("a time in ms <= %g (an hour)", MaxTimingMs), Got: Quote(s)}
	}
	return v, nil
}

// IntBetween parses a column as an integer in [min, max].
func (t *Table) IntBetween(col string, min, max int64) (int64, error) {
	i := t.col(col)
	if t.pk != nil {
		if _, m, k, ok := t.pk.number(i, t.row); ok && k == 0 && int64(m) >= min && int64(m) <= max {
			return int64(m), nil
		}
	}
	s, c := t.fieldAt(i)
	v, err := parseInt(s)
	switch {
	case err == nil && v >= min && v <= max:
		return v, nil
	case err == nil && v > max, errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
		return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: fmt.Sprintf("an integer <= %d", max), Got: Quote(s)}
	}
	return 0, &Error{File: t.file, Line: t.line, Col: c, Column: col, Want: fmt.Sprintf("an integer >= %d", min), Got: Quote(s)}
}
