package csvin

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// sameAsStrconv fails unless parseInt and parseFloat give strconv's value
// and error (nil or not) for s, bit for bit.
func sameAsStrconv(t *testing.T, s string) {
	t.Helper()
	wi, werr := strconv.ParseInt(s, 10, 64)
	gi, gerr := parseInt(s)
	if gi != wi || (gerr == nil) != (werr == nil) {
		t.Errorf("parseInt(%q) = %d, %v; strconv: %d, %v", s, gi, gerr, wi, werr)
	}
	wf, werr := strconv.ParseFloat(s, 64)
	gf, gerr := parseFloat(s)
	if math.Float64bits(gf) != math.Float64bits(wf) && !(math.IsNaN(gf) && math.IsNaN(wf)) || (gerr == nil) != (werr == nil) {
		t.Errorf("parseFloat(%q) = %v (%x), %v; strconv: %v (%x), %v", s, gf, math.Float64bits(gf), gerr, wf, math.Float64bits(wf), werr)
	}
}

func TestParseNumbers(t *testing.T) {
	for _, s := range []string{"", "0", "7", "007", "42", "-1", "+1", "1_000", "123456789012345678", "1234567890123456789",
		"9223372036854775807", "9223372036854775808", "0.0", "0.000754", "0.003907", "1.5", "1.500", "5.", ".5", ".", "..", "1..2", "1.2.3",
		"1e-05", "1E3", "0x1p-2", "inf", "NaN", " 1", "1 ", "3.14159265358979", "3.141592653589793", "0.1234567890123456789012",
		"0.00000000000000000000001", "0.0000000000000000000001", "123456789012345.6", "999999999999999", "9999999999999999",
		"0.30000000000000004", "1000000000000000000000", "16299.995683991508", "2.2250738585072014e-308", "00000000000000000000000001"} {
		sameAsStrconv(t, s)
	}
	// Every short decimal of up to 15 significant digits at every position
	// of the point, from a fixed generator (the fast path's whole domain is
	// exact by construction; this checks the construction).
	x := uint64(88172645463325252)
	for range 200000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		digits := strconv.FormatUint(x%1_000_000_000_000_000, 10)
		digits = digits[:1+int(x>>60)%len(digits)]
		p := int(x>>40) % (len(digits) + 1)
		s := digits
		if p < len(digits) && p > 0 {
			s = digits[:p] + "." + digits[p:]
		} else if p == 0 {
			s = "0." + digits
		}
		sameAsStrconv(t, s)
	}
}

// FuzzParseNumbers checks the fast number paths against strconv on any cell.
func FuzzParseNumbers(f *testing.F) {
	for _, s := range []string{"0.000754", "1024", "1e5", "-3", "1.5.", "12345678901234567890"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { sameAsStrconv(t, s) })
}

// TestFieldLookupOrders reads a wide table's cells by name in a different
// order each row, repeated names, more names than Table keeps recent and
// names made anew per read included: every read gives the cell of its
// column.
func TestFieldLookupOrders(t *testing.T) {
	const cols = 40
	var b strings.Builder
	for c := range cols {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "col%d", c)
	}
	b.WriteByte('\n')
	for r := range 50 {
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d", r*1000+c)
		}
		b.WriteByte('\n')
	}
	tab, err := ReadHeader(strings.NewReader(b.String()), "wide.csv")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, cols)
	for c := range names {
		names[c] = fmt.Sprintf("col%d", c)
	}
	for r := 0; ; r++ {
		if err := tab.Next(); err != nil {
			break
		}
		order := []int{3, 1, 4, 1, 5, 9, 2, 6}
		for k := range r % 7 * 6 {
			order = append(order, (k*7+r)%cols)
		}
		for _, c := range order {
			name := names[c]
			if r%3 == 0 {
				name = fmt.Sprint("col", c) // a new string each read
			}
			got, err := tab.IntAtLeast(name, 0)
			if err != nil || got != int64(r*1000+c) {
				t.Fatalf("row %d: %s = %d, %v; want %d", r, name, got, err, r*1000+c)
			}
			if s, field := tab.Field(name); field != c+1 || s != strconv.Itoa(r*1000+c) {
				t.Fatalf("row %d: Field(%s) = %q, %d", r, name, s, field)
			}
		}
	}
}
