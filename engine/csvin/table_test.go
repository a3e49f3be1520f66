package csvin

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// viaEncodingCSV is what Table read before it split quote-free lines
// itself: the records of a headed file through encoding/csv, each as
// "line: fields" (the header's cells trimmed, as Table keeps them), and how
// it ended ("" at the end of the file, else the error's line and message).
func viaEncodingCSV(in string) (rows []string, end string) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, "\ufeff")))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, ""
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return rows, fmt.Sprintf("line %d: %v at character %d", pe.Line, pe.Err, pe.Column)
			}
			return rows, err.Error()
		}
		if rows == nil {
			rec = append([]string(nil), rec...)
			for i := range rec {
				rec[i] = strings.TrimSpace(rec[i])
			}
			rows = append(rows, fmt.Sprintf("header: %q", rec))
			continue
		}
		line, _ := r.FieldPos(0)
		rows = append(rows, fmt.Sprintf("%d: %q", line, rec))
	}
}

// viaTable reads the same through Table; ok is false where Table refuses
// what encoding/csv takes (a duplicate column name).
func viaTable(in string) (rows []string, end string, ok bool) {
	t, err := ReadHeader(strings.NewReader(in), "f.csv")
	var ce *Error
	switch {
	case errors.As(err, &ce) && ce.Want == "unique column names":
		return nil, "", false
	case errors.As(err, &ce) && ce.Want == "a CSV header line":
		return nil, "", true
	case err != nil:
		return nil, tableErr(err), true
	}
	rows = append(rows, fmt.Sprintf("header: %q", t.Header()))
	for {
		err := t.Next()
		if errors.Is(err, io.EOF) {
			return rows, "", true
		}
		if errors.As(err, &ce) && ce.Want == fmt.Sprintf("%d fields as in the header", len(t.Header())) {
			err = nil // a row Table refuses and encoding/csv takes: compare the record
		}
		if err != nil {
			return rows, tableErr(err), true
		}
		rows = append(rows, fmt.Sprintf("%d: %q", t.Line(), t.rec))
	}
}

func tableErr(err error) string {
	var ce *Error
	if errors.As(err, &ce) && ce.Want == "well-formed CSV" {
		return fmt.Sprintf("line %d: %s", ce.Line, ce.Got)
	}
	return err.Error()
}

// same checks that Table reads in as encoding/csv does.
func same(t *testing.T, in string) {
	t.Helper()
	got, gotEnd, ok := viaTable(in)
	if !ok {
		return
	}
	want, wantEnd := viaEncodingCSV(in)
	if fmt.Sprint(want) != fmt.Sprint(got) || wantEnd != gotEnd {
		t.Fatalf("input %q:\nencoding/csv %v, end %q\nTable        %v, end %q", in, want, wantEnd, got, gotEnd)
	}
}

func TestTableReadsAsEncodingCSV(t *testing.T) {
	for _, in := range []string{
		"a,b\n1,2\n",
		"a,b\n1,2",
		"a,b\r\n1,2\r\n",
		"a,b\n1,2\r",
		"a,b\n\n\n1,2\n\r\n3,4\n",
		"\n\na,b\n1,2\n",
		"\ufeffa,b\n1,2\n",
		" a , b\n1,\n,\n",
		"a,b\n1\n1,2,3\n",
		"a,b\n1,2\rx\n",
		"a,b\n1,\"2\"\n3,4\n5,6\n",     // a quoted field: encoding/csv from there on
		"a,b\n1,\"2\n3\",4\n5,6\n",     // a field over two lines
		"a,b\n1,2\n3,x\"y\n5,6\n",      // a bare quote: the error's line and character
		"a,b\n1,2\n\n\"3,4\n",          // an unterminated quote
		"a,\"b\"\n1,2\n",               // quotes in the header
		"a,b\n\"1\",\"2\"\r\n3,4\r\n5", // \r\n after the hand-over
		"a,b\n" + strings.Repeat("x", 70000) + ",2\n3,4\n", // a line longer than the buffer
	} {
		same(t, in)
	}
}

func TestTableLines(t *testing.T) {
	// Hand-checked: the data rows of this file start on lines 3, 5 and 6
	// (line 4 is blank), and the bare quote of line 7 is its 4th character.
	tb, err := ReadHeader(strings.NewReader("\na,b\n1,2\n\n3,\"4\"\n5,6\n7,x\"\n"), "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for {
		err := tb.Next()
		if err != nil {
			if got := err.Error(); got != `f.csv:7: expected well-formed CSV, got bare " in non-quoted-field at character 4` {
				t.Fatalf("error %q", got)
			}
			break
		}
		lines = append(lines, tb.Line())
	}
	if fmt.Sprint(lines) != "[3 5 6]" {
		t.Fatalf("lines %v, want [3 5 6]", lines)
	}
}

// FuzzTable: Table reads any input as encoding/csv does (records, the
// lines they start on, errors with their positions).
func FuzzTable(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a,b\r\n1,\"2\r\n3\"\r\n\r\n4,5", "a\n\"\n", "x,y\n1,2\r", "a,b\n1,x\"\n", "\ufeff\n a\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { same(t, in) })
}
