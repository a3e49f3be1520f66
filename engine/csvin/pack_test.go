package csvin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

// samePacked checks that a packed CSV reads as the CSV it unpacks to: the
// header, every row's line, every cell's text and every accessor's value or
// error, for every column.
func samePacked(t *testing.T, csv, pk []byte) {
	t.Helper()
	ct, cerr := ReadHeader(bytes.NewReader(csv), "f.csv")
	pt, perr := ReadPacked(pk, "f.csv")
	if cerr != nil || perr != nil {
		if fmt.Sprint(cerr) != fmt.Sprint(perr) {
			t.Fatalf("header: CSV %v, packed %v", cerr, perr)
		}
		return
	}
	if fmt.Sprint(ct.Header()) != fmt.Sprint(pt.Header()) {
		t.Fatalf("header: CSV %q, packed %q", ct.Header(), pt.Header())
	}
	val := func(v any, err error) string {
		if err != nil {
			return "error " + err.Error()
		}
		if f, ok := v.(float64); ok {
			return fmt.Sprintf("%x", math.Float64bits(f))
		}
		return fmt.Sprint(v)
	}
	// Constant: a packed column that says it holds one cell holds it in
	// every row (checked against the CSV's rows below).
	constant := map[string]string{}
	for _, col := range ct.Header() {
		if _, ok := ct.Constant(col); ok {
			t.Fatalf("a CSV cannot know %s is constant", col)
		}
		if s, ok := pt.Constant(col); ok {
			constant[col] = s
		}
	}
	for row := 0; ; row++ {
		ce, pe := ct.Next(), pt.Next()
		if ce != nil || pe != nil {
			if fmt.Sprint(ce) != fmt.Sprint(pe) {
				t.Fatalf("row %d: CSV %v, packed %v", row, ce, pe)
			}
			if !errors.Is(ce, io.EOF) {
				return
			}
			break
		}
		if ct.Line() != pt.Line() {
			t.Fatalf("row %d: line %d, packed %d", row, ct.Line(), pt.Line())
		}
		for _, col := range ct.Header() {
			cs, cc := ct.Field(col)
			ps, pc := pt.Field(col)
			if cs != ps || cc != pc {
				t.Fatalf("line %d %s: field %q/%d, packed %q/%d", ct.Line(), col, cs, cc, ps, pc)
			}
			if k, ok := constant[col]; ok && k != cs {
				t.Fatalf("line %d %s: %q in a column packed as constant %q", ct.Line(), col, cs, k)
			}
			for _, f := range []struct {
				name string
				get  func(*Table) string
			}{
				{"IntAtLeast 1", func(t *Table) string { return val(t.IntAtLeast(col, 1)) }},
				{"IntAtLeast 0", func(t *Table) string { return val(t.IntAtLeast(col, 0)) }},
				{"IntBetween", func(t *Table) string { return val(t.IntBetween(col, 1, 64)) }},
				{"PositiveFloat", func(t *Table) string { return val(t.PositiveFloat(col)) }},
				{"NonNegFloat", func(t *Table) string { return val(t.NonNegFloat(col)) }},
				{"Float", func(t *Table) string { v, ok, err := t.Float(col); return val(fmt.Sprint(v, ok), err) }},
			} {
				if c, p := f.get(ct), f.get(pt); c != p {
					t.Fatalf("line %d %s: %s %s, packed %s", ct.Line(), col, f.name, c, p)
				}
			}
		}
	}
	if pt.Next() != io.EOF {
		t.Fatal("packed: a row after the end")
	}
}

// TestPack_RoundTrip: packed tables give back their CSV's bytes and read
// as it does, numbers (ints, decimals with trailing zeros, zeros, 15
// significant digits, 22 after the point), strings, empty cells and
// columns that mix them.
func TestPack_RoundTrip(t *testing.T) {
	for _, csv := range []string{
		"a,b\n1,2\n",
		"a,b\n1,2",
		"a\n",
		"a",
		"time_stats.x.median,n,flag,name\n0.000754,1024,True,SYNTH\n,1024,False,SYNTH\n10.50,0,True,other\n",
		"x,y\n0,0.0\n00,0.\n.5,5.\n1e3,-1\n+2, 3 \n",
		"x\n999999999999999\n1000000000000000\n0.0000000000000000000001\n0.00000000000000000000001\n123456789012345.5\n",
		"x,y\n3600000,3600000.1\n0.0,1\n",
		" padded , name \n1,2\n",
		"a,,b\n,,\n1,,2\n",
		"unordered,ordered\n300,1\n1,2\n300,3\n,4\n1,5\n300.5,6\n",
		"x,y\n1,a\n5.8926549999999995,b\n2,c\n3,d\n4,e\n5,f\n6,g\n7,h\n8,i\n",
		"x\n1e3\n1e3\n",
	} {
		t.Run(fmt.Sprintf("%q", csv), func(t *testing.T) {
			pk, err := Pack([]byte(csv), "f.csv")
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unpack(pk, "f.csv.pack")
			if err != nil {
				t.Fatal(err)
			}
			if string(back) != csv {
				t.Fatalf("unpacked %q", back)
			}
			samePacked(t, []byte(csv), pk)
		})
	}
}

// TestPack_Numbers: a number column's values are parseFloat's for each
// cell, written the packed way; cells that would not come back as the same
// text make the column a string column.
func TestPack_Numbers(t *testing.T) {
	for _, c := range []struct {
		cell string
		m    uint64
		k    int
		ok   bool
	}{
		{"0.000754", 754, 6, true}, {"1024", 1024, 0, true}, {"0", 0, 0, true}, {"0.0", 0, 1, true},
		{"10.50", 1050, 2, true}, {"999999999999999", 999999999999999, 0, true},
		{"1000000000000000", 0, 0, false}, {"00", 0, 0, false}, {"01", 0, 0, false}, {".5", 0, 0, false},
		{"5.", 0, 0, false}, {"-1", 0, 0, false}, {"1e3", 0, 0, false}, {"", 0, 0, false}, {"1.2.3", 0, 0, false},
	} {
		m, k, ok := numberCell(c.cell)
		if m != c.m || k != c.k || ok != c.ok {
			t.Errorf("numberCell(%q) = %d, %d, %t; want %d, %d, %t", c.cell, m, k, ok, c.m, c.k, c.ok)
		}
	}
}

// TestPack_PlainColumn: a column of unordered numbers is stored plain
// (kind 2), an ordered one as differences (kind 0); both read back.
func TestPack_PlainColumn(t *testing.T) {
	pk, err := Pack([]byte("u,o\n300,1\n1,2\n300,3\n1,4\n300,5\n"), "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _, err := decodePacked(pk, "f.csv.pack")
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(pk, []byte{'o'}) + 1 + 1; pk[i] != kindPlain {
		t.Errorf("column u stored as kind %d, want %d (plain)", pk[i], kindPlain)
	}
	if got := fmt.Sprint(p.cols[0].mant, p.cols[1].mant); got != "[300 1 300 1 300] [1 2 3 4 5]" {
		t.Errorf("digits %s", got)
	}
}

// TestPack_Refuses: what could not come back byte for byte is not packed,
// with the line.
func TestPack_Refuses(t *testing.T) {
	for _, c := range []struct{ csv, want string }{
		{"a,b\n1,\"2\"\n", `f.csv:2: expected a CSV that packs losslessly (no quotes or carriage returns)`},
		{"a,b\r\n1,2\r\n", `f.csv:1: expected a CSV that packs losslessly (no quotes or carriage returns)`},
		{"a,b\n\n1,2\n", `f.csv:2: expected a CSV that packs losslessly (no blank lines)`},
		{"a,b\n1,2\n3\n", `f.csv:3: expected a CSV that packs losslessly (2 fields as in the header)`},
		{"\ufeffa\n1\n", `f.csv:1: expected a CSV that packs losslessly (no byte-order mark)`},
		{"", `f.csv:1: expected a CSV that packs losslessly (a header line)`},
	} {
		_, err := Pack([]byte(c.csv), "f.csv")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Pack(%q): %v, want %s", c.csv, err, c.want)
		}
	}
}

// TestReadPacked_Corrupt: a damaged packed file is refused with what is
// wrong and where, never read as another table.
func TestReadPacked_Corrupt(t *testing.T) {
	good, err := Pack([]byte("x,name\n0.5,a\n2,b\n"), "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	hdr := len(packMagic)
	corrupt := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"another file", []byte("x,name\n0.5,a\n"), `f.csv.pack: expected a packed CSV (starting "servesim packed csv 1\n"), got another file`},
		{"truncated", good[:len(good)-3], "past the end"},
		{"truncated header", good[:hdr+2], "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0), "1 bytes after the last column"},
		{"bad flags", corrupt(func(b []byte) []byte { b[hdr] = 7; return b }), "flags 7 (at most 1)"},
		{"huge row count", append(append([]byte(packMagic), 0, 1, 1, 'x'), 0xff, 0xff, 0xff, 0xff, 0x0f), "row count"},
		{"rows the data cannot hold", append(append([]byte(packMagic), 0, 1, 1, 'x'), 0xff, 0xff, 0x03), "rows of 1 columns in 0 bytes"},
		{"no columns", append([]byte(packMagic), 0, 0, 0), "no columns"},
		{"bad kind", corrupt(func(b []byte) []byte { b[bytes.Index(b, []byte("name"))+5] = 9; return b }), "column 1: kind 9 (0 numbers, 1 strings, 2 plain numbers)"},
		{"bad tag", corrupt(func(b []byte) []byte { b[bytes.Index(b, []byte("name"))+6] = 40; return b }), "column 1 row 1: 39 digits after the point (at most 22)"},
		{"comma in a name", corrupt(func(b []byte) []byte { b[bytes.Index(b, []byte("name"))] = ','; return b }), "column name with a comma, quote or line break"},
		{"index past the dictionary", corrupt(func(b []byte) []byte { b[len(b)-1] = 5; return b }), "column 2 row 2: dictionary index 5 (the dictionary has 2 entries)"},
		{"blank line", append(append([]byte(packMagic), 0, 1, 1, 'x', 1, 0), 0, 0), "without blank lines"},
		{"text cells miscounted", append(append([]byte(packMagic), 0, 1, 1, 'x', 1, 0), 0xFF, 0), "column 1: 0 text cells for 1 rows marked text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadPacked(c.data, "f.csv")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "f.csv.pack") {
				t.Fatalf("%v, want an error naming f.csv.pack with %q", err, c.want)
			}
			if _, err2 := Unpack(c.data, "f.csv.pack"); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Unpack: %v, ReadPacked: %v", err2, err)
			}
		})
	}
}

// FuzzReadPacked: any bytes either fail to decode with an error or decode
// to a table that reads exactly as the CSV they unpack to (which packs
// back to the same bytes).
func FuzzReadPacked(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "t,n,s\n0.000754,1024,True\n,0,x\n10.50,64,True", "a\n1\n", "x\n1\n1.2e3\n2\n3\n4\n5\n6\n7\n8\n"} {
		pk, err := Pack([]byte(s), "f.csv")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pk)
		f.Add(pk[:len(pk)-1])
	}
	f.Add([]byte(packMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		csv, err := Unpack(data, "f.csv.pack")
		if err != nil {
			if _, err2 := ReadPacked(data, "f.csv"); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Unpack: %v, ReadPacked: %v", err, err2)
			}
			if !strings.HasPrefix(err.Error(), "f.csv.pack") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		samePacked(t, csv, data)
		if _, err := Pack(csv, "f.csv"); err != nil {
			t.Fatalf("unpacked CSV %q does not pack: %v", csv, err)
		}
	})
}

// FuzzPack: any CSV either is refused or packs to a form that unpacks to
// its bytes and reads as it does.
func FuzzPack(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "x,y\n0,0.0\n00,0.\n.5,5.\n", "a\n", " a , b\n 1,2 \n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, csv string) {
		pk, err := Pack([]byte(csv), "f.csv")
		if err != nil {
			return
		}
		back, err := Unpack(pk, "f.csv.pack")
		if err != nil || string(back) != csv {
			t.Fatalf("unpacked %q, %v", back, err)
		}
		samePacked(t, []byte(csv), pk)
	})
}
