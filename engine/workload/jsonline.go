package workload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// objReader reads the members of one JSON object (a JSONL line) with the
// jsontext tokenizer, without reflection: the trace readers visit every
// member and take the values they know, so a million lines parse several
// times faster than through encoding/json (natively and as wasm).
type objReader struct {
	dec  *jsontext.Decoder
	lr   *lineReader
	fmt  string // format name for messages
	key  string // member being read
	line []byte
}

func newObjReader(lr *lineReader, format string) *objReader {
	return &objReader{dec: jsontext.NewDecoder(bytes.NewBuffer(nil)), lr: lr, fmt: format}
}

// each calls f with every member name of the object in line; f must read
// the member's value with one of the value methods (or skip it).
func (o *objReader) each(line []byte, f func(name []byte) error) error {
	o.line = line
	o.dec.Reset(bytes.NewBuffer(line))
	tok, err := o.dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	for o.dec.PeekKind() != '}' {
		v, err := o.dec.ReadValue()
		if err != nil {
			return o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
		}
		name := []byte(v[1 : len(v)-1])
		if bytes.IndexByte(name, '\\') >= 0 {
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
			}
			name = s
		}
		o.key = string(name)
		if err := f(name); err != nil {
			return err
		}
	}
	if _, err := o.dec.ReadToken(); err != nil {
		return o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	if _, err := o.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return o.lr.errf("", "one JSON object per line ("+o.fmt+")", "more after the object")
	}
	return nil
}

func (o *objReader) syntax(err error) string {
	if err == nil {
		return csvQuoteLine(o.line)
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return se.Err.Error() + fmt.Sprintf(" at byte %d", se.ByteOffset+1)
	}
	return err.Error()
}

func csvQuoteLine(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40]) + "…")
	}
	return strconv.Quote(string(b))
}

// value reads the current member's raw value.
func (o *objReader) value() (jsontext.Value, error) {
	v, err := o.dec.ReadValue()
	if err != nil {
		return nil, o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	return v, nil
}

// describe renders a value of the wrong type for a message.
func describe(v jsontext.Value) string {
	switch v.Kind() {
	case '"':
		return "string " + csvQuoteLine(v)
	case '0':
		return "number " + string(v)
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 'n':
		return "null"
	}
	return string(v)
}

// isNull reports (and consumes) a null value.
func (o *objReader) isNull() bool {
	if o.dec.PeekKind() == 'n' {
		_, _ = o.dec.ReadValue()
		return true
	}
	return false
}

// int reads an integer member. An integral number written as a float
// (655.0, as pandas writes a column that once held a NaN) is that integer.
func (o *objReader) int() (int64, error) {
	v, err := o.value()
	if err != nil {
		return 0, err
	}
	if n, ok := integer(v); ok {
		return n, nil
	}
	return 0, o.lr.errf(o.key, "an integer ("+o.fmt+")", describe(v))
}

func integer(v jsontext.Value) (int64, bool) {
	if v.Kind() != '0' {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// float reads a finite number member.
func (o *objReader) float() (float64, error) {
	v, err := o.value()
	if err != nil {
		return 0, err
	}
	if v.Kind() == '0' {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, o.lr.errf(o.key, "a number ("+o.fmt+")", describe(v))
}

// str reads a string member; a number is rendered as its digits (some tools
// write session ids as numbers).
func (o *objReader) str(numberOK bool) (string, error) {
	v, err := o.value()
	if err != nil {
		return "", err
	}
	switch {
	case v.Kind() == '"':
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return "", o.lr.errf(o.key, "a string", describe(v))
		}
		return string(s), nil
	case v.Kind() == '0' && numberOK:
		return string(v), nil
	}
	return "", o.lr.errf(o.key, "a string ("+o.fmt+")", describe(v))
}

// ints appends a list of integers (hash_ids) to dst.
func (o *objReader) ints(dst []int64) ([]int64, error) {
	if o.dec.PeekKind() != '[' {
		v, err := o.value()
		if err != nil {
			return dst, err
		}
		return dst, o.lr.errf(o.key, "a list of integers ("+o.fmt+")", describe(v))
	}
	if _, err := o.dec.ReadToken(); err != nil {
		return dst, o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	for i := 0; o.dec.PeekKind() != ']'; i++ {
		v, err := o.value()
		if err != nil {
			return dst, err
		}
		n, ok := integer(v)
		if !ok {
			return dst, o.lr.errf(o.key, "a list of integers ("+o.fmt+")", fmt.Sprintf("element %d: %s", i, describe(v)))
		}
		dst = append(dst, n)
	}
	if _, err := o.dec.ReadToken(); err != nil {
		return dst, o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	return dst, nil
}

// skip passes over a member the reader does not use.
func (o *objReader) skip() error {
	if err := o.dec.SkipValue(); err != nil {
		return o.lr.errf("", "one JSON object per line ("+o.fmt+")", o.syntax(err))
	}
	return nil
}
