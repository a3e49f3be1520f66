package csvin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// A packed CSV is a lossless columnar binary form of a quote-free CSV file
// (a profile set's attention table): the same header and cells, each column
// either numbers (plain decimals such as "0.003907" kept as their digits and
// the count after the point, or empty) or strings (a dictionary and an index
// per row). ReadPacked reads it as a Table without splitting or parsing
// text: a number cell's value is the one parseFloat gives its text (the
// digits m < 10^15 over 10^k, the same division), so every accessor
// returns what it returns on the CSV, errors and their positions included.
// Unpack gives the CSV's exact bytes back.
//
// Layout: the magic line, then uvarints: flags (bit 0: the file ends in a
// newline), the column count, each header cell (length, bytes), the row
// count, then per column a kind byte and its cells: numbers (kind 0) as one
// tag byte per row (0: empty, 1+k: k digits after the point) followed by
// one zigzag varint per non-empty row, the difference of its digits m from
// the previous non-empty row's (kind 2: the same tags, then each row's m as
// a uvarint, where that is shorter); strings (kind 1) as the dictionary's
// size and entries (length, bytes), then one uvarint index per row.
const packMagic = "servesim packed csv 1\n"

// IsPacked reports whether data (a file's first bytes, at least
// PackedPrefix of them) starts as a packed CSV.
func IsPacked(data []byte) bool { return bytes.HasPrefix(data, []byte(packMagic)) }

// PackedPrefix is how many first bytes IsPacked needs.
const PackedPrefix = len(packMagic)

// PackSuffix names a CSV's packed form beside it: attention.csv.pack.
const PackSuffix = ".pack"

const (
	kindNumbers = 0
	kindStrings = 1
	// kindPlain is a number column whose digits are stored as they are
	// (uvarints), not as differences: a column of unordered values (a
	// trace's token counts) whose differences take more bytes. Decoded, it
	// is a kindNumbers column.
	kindPlain = 2
	// tagText marks a cell of a number column that is not a number cell
	// (a decimal of 17 digits, an exponent): its text follows the column's
	// digits, in row order.
	tagText = 0xFF
	// maxPackDigits bounds a number cell's digits (m < 10^15): what
	// parseFloat computes exactly as m / 10^k.
	maxPackMantissa = 1_000_000_000_000_000
	maxPackFrac     = 22
	// maxPackCells bounds rows x columns, checked before anything is
	// allocated for them.
	maxPackCells = 1 << 26
)

// packed is a decoded packed CSV: cells by column.
type packed struct {
	rows int
	cols []packedCol
}

// packedCol is one column: numbers (tags, digits and values by row) or
// strings (dict and index by row).
type packedCol struct {
	kind  byte
	tag   []uint8 // 0: empty, 1+k: k digits after the point
	mant  []uint64
	dict  []string
	idx   []uint32
	text  map[int]string // a number column's text cells (tagText) by row
	last  int            // the row of the cell text last formatted, -1 if none
	lastS string
}

// constant reports whether column c holds one cell text in every row.
func (p *packed) constant(c int) bool {
	col := &p.cols[c]
	for row := 1; row < p.rows; row++ {
		if col.kind == kindStrings {
			if col.idx[row] != col.idx[0] {
				return false
			}
		} else if col.tag[row] != col.tag[0] || col.mant[row] != col.mant[0] || col.tag[row] == tagText && col.text[row] != col.text[0] {
			return false
		}
	}
	return true
}

// numberCell parses s as a cell a number column holds: digits m < 10^15
// with k <= 22 of them after a point, written as formatNumber writes them
// (so the text comes back exactly).
func numberCell(s string) (m uint64, k int, ok bool) {
	if s == "" {
		return 0, 0, false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			if m >= maxPackMantissa {
				return 0, 0, false
			}
		case c == '.' && dot < 0:
			dot = i
		default:
			return 0, 0, false
		}
	}
	if dot >= 0 {
		k = len(s) - dot - 1
	}
	if k > maxPackFrac || formatNumber(nil, m, k) != s {
		return 0, 0, false
	}
	return m, k, true
}

// formatNumber appends the text of digits m with k after the point (m=754,
// k=6: "0.000754") to b.
func formatNumber(b []byte, m uint64, k int) string {
	d := strconv.AppendUint(b[:0], m, 10)
	if k == 0 {
		return string(d)
	}
	var out []byte
	if len(d) <= k {
		out = append(out, "0."...)
		for range k - len(d) {
			out = append(out, '0')
		}
		out = append(out, d...)
	} else {
		out = append(out, d[:len(d)-k]...)
		out = append(out, '.')
		out = append(out, d[len(d)-k:]...)
	}
	return string(out)
}

// Pack encodes a CSV file's bytes (file names it in messages). Only a file
// it can give back byte for byte is packed: no quotes, carriage returns,
// blank lines or byte-order mark, every row as many cells as the header.
func Pack(csv []byte, file string) ([]byte, error) {
	fail := func(line int, what string) error {
		return &Error{File: file, Line: line, Want: "a CSV that packs losslessly (" + what + ")", Got: "one that does not"}
	}
	if bytes.HasPrefix(csv, []byte{0xEF, 0xBB, 0xBF}) {
		return nil, fail(1, "no byte-order mark")
	}
	if i := bytes.IndexAny(csv, "\"\r"); i >= 0 {
		return nil, fail(bytes.Count(csv[:i], []byte{'\n'})+1, "no quotes or carriage returns")
	}
	text := string(csv)
	final := strings.HasSuffix(text, "\n")
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, fail(1, "a header line")
	}
	lines := strings.Split(text, "\n")
	header := strings.Split(lines[0], ",")
	rows := make([][]string, 0, len(lines)-1)
	for i, l := range lines[1:] {
		if l == "" {
			return nil, fail(i+2, "no blank lines")
		}
		r := strings.Split(l, ",")
		if len(r) != len(header) {
			return nil, fail(i+2, fmt.Sprintf("%d fields as in the header", len(header)))
		}
		rows = append(rows, r)
	}
	if len(rows)*len(header) > maxPackCells {
		return nil, fail(0, fmt.Sprintf("at most %d cells", maxPackCells))
	}
	out := []byte(packMagic)
	flags := uint64(0)
	if final {
		flags = 1
	}
	out = binary.AppendUvarint(out, flags)
	out = binary.AppendUvarint(out, uint64(len(header)))
	for _, h := range header {
		out = appendString(out, h)
	}
	out = binary.AppendUvarint(out, uint64(len(rows)))
	for c := range header {
		// A column is numbers when at most one in nine of its filled
		// cells is text (kept as such, tagText).
		numbers, texts := 0, 0
		for _, r := range rows {
			if _, _, ok := numberCell(r[c]); ok {
				numbers++
			} else if r[c] != "" {
				texts++
			}
		}
		if numbers > 0 && texts*8 <= numbers {
			tags := make([]byte, 0, len(rows))
			var delta, plain, text []byte
			prev := int64(0)
			for _, r := range rows {
				tag := byte(0)
				if m, k, ok := numberCell(r[c]); ok {
					tag = byte(1 + k)
					delta = binary.AppendVarint(delta, int64(m)-prev)
					plain = binary.AppendUvarint(plain, m)
					prev = int64(m)
				} else if r[c] != "" {
					tag = tagText
					text = appendString(text, r[c])
				}
				tags = append(tags, tag)
			}
			if len(plain) < len(delta) {
				out = append(append(append(out, kindPlain), tags...), plain...)
			} else {
				out = append(append(append(out, kindNumbers), tags...), delta...)
			}
			out = binary.AppendUvarint(out, uint64(texts))
			out = append(out, text...)
			continue
		}
		out = append(out, kindStrings)
		index := map[string]uint32{}
		var dict []string
		for _, r := range rows {
			if _, ok := index[r[c]]; !ok {
				index[r[c]] = uint32(len(dict))
				dict = append(dict, r[c])
			}
		}
		out = binary.AppendUvarint(out, uint64(len(dict)))
		for _, s := range dict {
			out = appendString(out, s)
		}
		for _, r := range rows {
			out = binary.AppendUvarint(out, uint64(index[r[c]]))
		}
	}
	back, err := Unpack(out, file+PackSuffix)
	if err != nil || !bytes.Equal(back, csv) {
		return nil, fail(0, fmt.Sprintf("the packed form unpacks to the same bytes (%v)", err))
	}
	return out, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// packReader reads a packed CSV's fields, failing with the offset of the
// first bad one.
type packReader struct {
	file string
	b    []byte
	off  int
	err  error
}

func (r *packReader) fail(what string) {
	if r.err == nil {
		r.err = &Error{File: r.file, Want: "a packed CSV (" + packMagic[:len(packMagic)-1] + ")", Got: fmt.Sprintf("%s at byte %d", what, r.off)}
	}
}

func (r *packReader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("a truncated or overlong " + what)
		return 0
	}
	if v > max {
		r.fail(fmt.Sprintf("%s %d (at most %d)", what, v, max))
		return 0
	}
	r.off += n
	return v
}

// text reads a length and that many bytes: a header or dictionary cell,
// which must not hold a comma, quote or line break (it could not come back
// as the same CSV cell).
func (r *packReader) text(what string) string {
	if r.err != nil {
		return ""
	}
	n, k := binary.Uvarint(r.b[r.off:])
	if k <= 0 {
		r.fail("a truncated or overlong " + what + " length")
		return ""
	}
	r.off += k
	if uint64(len(r.b)-r.off) < n {
		r.fail("a " + what + " past the end")
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	if strings.ContainsAny(s, ",\"\r\n") {
		r.fail("a " + what + " with a comma, quote or line break")
		return ""
	}
	r.off += int(n)
	return s
}

func (r *packReader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail(what + " past the end")
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// decodePacked checks and decodes a packed CSV (file names it in messages).
func decodePacked(data []byte, file string) (header []string, p *packed, final bool, err error) {
	if !bytes.HasPrefix(data, []byte(packMagic)) {
		return nil, nil, false, &Error{File: file, Want: "a packed CSV (starting " + strconv.Quote(packMagic) + ")", Got: "another file"}
	}
	r := &packReader{file: file, b: data, off: len(packMagic)}
	flags := r.uvarint("flags", 1)
	ncols := r.uvarint("column count", uint64(len(data)))
	if r.err == nil && ncols == 0 {
		r.fail("no columns")
	}
	for range ncols {
		if r.err != nil {
			break
		}
		header = append(header, r.text("column name"))
	}
	nrows := r.uvarint("row count", maxPackCells)
	if r.err == nil && ncols*nrows > maxPackCells {
		r.fail(fmt.Sprintf("%d rows of %d columns (at most %d cells)", nrows, ncols, maxPackCells))
	}
	// Every cell takes at least one byte: a count the data cannot hold is
	// refused before anything is allocated for it.
	if r.err == nil && ncols*nrows > uint64(len(data)-r.off) {
		r.fail(fmt.Sprintf("%d rows of %d columns in %d bytes", nrows, ncols, len(data)-r.off))
	}
	if r.err != nil {
		return nil, nil, false, r.err
	}
	rows := int(nrows)
	p = &packed{rows: rows, cols: make([]packedCol, ncols)}
	for c := range p.cols {
		col := &p.cols[c]
		col.last = -1
		kind := r.bytes(1, "a column kind")
		if r.err != nil {
			break
		}
		col.kind = kind[0]
		switch col.kind {
		case kindNumbers, kindPlain:
			tags := r.bytes(rows, "number tags")
			if r.err != nil {
				break
			}
			col.tag = tags
			col.mant = make([]uint64, rows)
			n, row, err := decodeNumbers(r.b[r.off:], tags, col.mant, col.kind == kindNumbers)
			col.kind = kindNumbers
			r.off += n
			if err != "" {
				r.fail(fmt.Sprintf("column %d row %d: %s", c+1, row+1, err))
				break
			}
			texts := 0
			for _, tag := range tags {
				if tag == tagText {
					texts++
				}
			}
			if n := r.uvarint("text cell count", uint64(len(data))); r.err == nil && n != uint64(texts) {
				r.fail(fmt.Sprintf("column %d: %d text cells for %d rows marked text", c+1, n, texts))
			}
			if texts > 0 && r.err == nil {
				col.text = make(map[int]string, texts)
				for i, tag := range tags {
					if tag == tagText {
						col.text[i] = r.text("text cell")
						if r.err != nil {
							break
						}
					}
				}
			}
		case kindStrings:
			n := r.uvarint("dictionary size", uint64(len(data)))
			for range n {
				if r.err != nil {
					break
				}
				col.dict = append(col.dict, r.text("dictionary entry"))
			}
			if r.err != nil {
				break
			}
			col.idx = make([]uint32, rows)
			k, row, err := decodeIndices(r.b[r.off:], uint64(len(col.dict)), col.idx)
			r.off += k
			if err != "" {
				r.fail(fmt.Sprintf("column %d row %d: %s", c+1, row+1, err))
			}
			if r.err == nil && n == 0 && rows > 0 {
				r.fail(fmt.Sprintf("column %d: an empty dictionary for %d rows", c+1, rows))
			}
		default:
			r.fail(fmt.Sprintf("column %d: kind %d (0 numbers, 1 strings, 2 plain numbers)", c+1, col.kind))
		}
		if r.err != nil {
			break
		}
	}
	if r.err == nil && r.off != len(data) {
		r.fail(fmt.Sprintf("%d bytes after the last column", len(data)-r.off))
	}
	if r.err != nil {
		return nil, nil, false, r.err
	}
	// What the CSV would read differently: a byte-order mark (stripped), a
	// blank line (skipped: one column, an empty cell).
	if strings.HasPrefix(header[0], "\xEF\xBB\xBF") {
		return nil, nil, false, &Error{File: file, Want: "a packed CSV whose first column name has no byte-order mark", Got: "one"}
	}
	if len(header) == 1 {
		if header[0] == "" {
			return nil, nil, false, &Error{File: file, Want: "a packed CSV with a header", Got: "an empty header (a blank line)"}
		}
		for row := range p.rows {
			if p.cell(0, row) == "" {
				return nil, nil, false, &Error{File: file, Want: "a packed CSV without blank lines", Got: fmt.Sprintf("an empty cell in row %d of its one column", row+1)}
			}
		}
	}
	return header, p, flags&1 == 1, nil
}

// decodeNumbers reads a number column's digits (zigzag varints of the
// difference from the previous non-empty row) into mant, for the rows whose
// tag is not 0. It returns the bytes read and, on a bad row, its index and
// what is wrong. One loop without calls: the page's worker runs it once,
// before its code is optimized.
func decodeNumbers(b []byte, tags []uint8, mant []uint64, deltas bool) (n, row int, err string) {
	off, prev := 0, int64(0)
	for i, tag := range tags {
		if tag == 0 || tag == tagText {
			continue
		}
		if tag > 1+maxPackFrac {
			return off, i, fmt.Sprintf("%d digits after the point (at most %d)", tag-1, maxPackFrac)
		}
		u, next, bad := readUvarint(b, off)
		off = next
		switch bad {
		case uvarintTruncated:
			return off, i, "a truncated number"
		case uvarintOverlong:
			return off, i, "an overlong number"
		}
		if !deltas {
			if u >= maxPackMantissa {
				return off, i, "digits outside [0, 10^15)"
			}
			mant[i] = u
			continue
		}
		d := int64(u>>1) ^ -int64(u&1)
		m := prev + d
		if m < 0 || m >= maxPackMantissa || d > maxPackMantissa || d < -maxPackMantissa {
			return off, i, "digits outside [0, 10^15)"
		}
		prev = m
		mant[i] = uint64(m)
	}
	return off, 0, ""
}

// readUvarint's failures.
const (
	uvarintOK = iota
	uvarintTruncated
	uvarintOverlong
)

// readUvarint reads the little-endian base-128 number at b[off:] (at most 9
// bytes, 63 bits): the number, the offset after it (where it stopped, on a
// failure) and uvarintOK or why it failed.
func readUvarint(b []byte, off int) (uint64, int, int) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if off >= len(b) {
			return u, off, uvarintTruncated
		}
		if shift > 56 {
			return u, off, uvarintOverlong
		}
		c := b[off]
		off++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return u, off, uvarintOK
		}
	}
}

// decodeIndices reads a string column's dictionary index per row (uvarints
// below n) into idx, as decodeNumbers its digits.
func decodeIndices(b []byte, n uint64, idx []uint32) (off, row int, err string) {
	for i := range idx {
		u, next, bad := readUvarint(b, off)
		off = next
		switch bad {
		case uvarintTruncated:
			return off, i, "a truncated dictionary index"
		case uvarintOverlong:
			return off, i, "an overlong dictionary index"
		}
		if u >= n {
			return off, i, fmt.Sprintf("dictionary index %d (the dictionary has %d entries)", u, n)
		}
		idx[i] = uint32(u)
	}
	return off, 0, ""
}

// cell is the text of a cell as it stands in the CSV (untrimmed).
func (p *packed) cell(c, row int) string {
	col := &p.cols[c]
	if col.kind == kindStrings {
		return col.dict[col.idx[row]]
	}
	if col.last == row {
		return col.lastS
	}
	tag := col.tag[row]
	switch tag {
	case 0:
		return ""
	case tagText:
		return col.text[row]
	}
	// A column such as n_embd holds one value in every row: its text is
	// made once.
	if col.last >= 0 && col.tag[col.last] == tag && col.mant[col.last] == col.mant[row] {
		col.last = row
		return col.lastS
	}
	var buf [24]byte
	col.last, col.lastS = row, formatNumber(buf[:0], col.mant[row], int(tag)-1)
	return col.lastS
}

// number is a number cell's value (ok false for a string column or an
// empty cell, whose accessors go through the text).
func (p *packed) number(c, row int) (v float64, m uint64, k int, ok bool) {
	col := &p.cols[c]
	if col.kind != kindNumbers || col.tag[row] == 0 || col.tag[row] == tagText {
		return 0, 0, 0, false
	}
	k = int(col.tag[row]) - 1
	return float64(col.mant[row]) / pow10[k], col.mant[row], k, true
}

// Numbers returns a packed table's number column as every row's digits m
// and tag (0: an empty cell, 255: a cell of text, else 1 + the digits
// after the point: the value is m / 10^(tag-1), what the accessors give;
// a caller takes tags in [1, 23] only), ok only for a column
// of numbers: a caller reads a whole column without a call per row, and
// goes through the rows (their errors) for anything it does not take. A
// CSV's answer is always false. The slices are the table's: read only.
func (t *Table) Numbers(col string) (m []uint64, tag []uint8, ok bool) {
	if t.pk == nil || !t.Has(col) {
		return nil, nil, false
	}
	c := &t.pk.cols[t.index[col]]
	if c.kind != kindNumbers {
		return nil, nil, false
	}
	return c.mant, c.tag, true
}

// NumberValue is the value of a cell Numbers gave: m / 10^(tag-1).
func NumberValue(m uint64, tag uint8) float64 { return float64(m) / pow10[tag-1] }

// Unpack gives back the CSV bytes a packed CSV encodes (file names it in
// messages).
func Unpack(data []byte, file string) ([]byte, error) {
	header, p, final, err := decodePacked(data, file)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(strings.Join(header, ","))
	for row := range p.rows {
		b.WriteByte('\n')
		for c := range p.cols {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.cell(c, row))
		}
	}
	if final {
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// ReadPacked reads a packed CSV as a Table positioned before its first row,
// as ReadHeader leaves a CSV's; file names the CSV it encodes in messages
// (its rows' line numbers are the CSV's).
func ReadPacked(data []byte, file string) (*Table, error) {
	header, p, _, err := decodePacked(data, file+PackSuffix)
	if err != nil {
		return nil, err
	}
	t := &Table{file: file, index: map[string]int{}, pk: p, row: -1}
	if err := t.setHeader(header); err != nil {
		return nil, err
	}
	return t, nil
}
