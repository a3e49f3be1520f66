// Package strictjson decodes JSON the way a public API must: object keys
// match a struct's JSON names exactly (encoding/json matches them without
// regard to case), unknown keys are errors, nothing may follow the value,
// and every error says where it is (line and column).
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
)

// Error is a problem at a position of the JSON text (1-based line and
// column, in bytes).
type Error struct {
	Line, Column int
	Msg          string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg) }

// Position converts a byte offset of data to a 1-based line and column.
func Position(data []byte, off int64) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// maxDepth bounds nesting (encoding/json allows 10000 levels).
const maxDepth = 64

// Decode decodes data into v (a non-nil pointer), keeping v's values for
// absent keys as encoding/json does.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("strictjson: Decode needs a non-nil pointer")
	}
	at := func(off int64, f string, a ...any) error {
		l, c := Position(data, off)
		return &Error{Line: l, Column: c, Msg: fmt.Sprintf(f, a...)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, data, rv.Type().Elem(), 0, at); err != nil {
		return wrap(data, err, at)
	}
	rest := data[dec.InputOffset():]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		off := int64(len(data) - len(trimmed))
		return at(off, "unexpected data after the JSON value: %q", clip(string(trimmed)))
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return wrap(data, err, at)
	}
	return nil
}

// wrap gives encoding/json's errors a position.
func wrap(data []byte, err error, at func(int64, string, ...any) error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return err
	case errors.As(err, &se):
		return at(se.Offset, "%s", se.Error())
	case errors.As(err, &te):
		what := te.Field
		if what == "" {
			what = "the value"
		}
		return at(te.Offset, "%s: expected %s, got a JSON %s", what, te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return at(int64(len(data)), "the JSON text ends early")
	}
	return at(int64(len(data)), "%v", err)
}

var (
	rawType         = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walk reads one value from dec, checking object keys against t.
func walk(dec *json.Decoder, data []byte, t reflect.Type, depth int, at func(int64, string, ...any) error) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > maxDepth {
		return at(dec.InputOffset(), "nested deeper than %d levels", maxDepth)
	}
	free := t == nil || t == rawType || t.Kind() == reflect.Interface ||
		reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textType)
	if free {
		t = nil // any value; keys are not checked
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walk(dec, data, elem, depth+1, at); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = structFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					end := dec.InputOffset()
					start := int64(bytes.LastIndexByte(data[:end], '"'))
					if s := bytes.LastIndexByte(data[:max(start, 0)], '"'); s >= 0 {
						start = int64(s)
					}
					return at(start, "unknown key %q (expected %s)", clip(key), expected(fields, key))
				}
				elem = ft
			}
			if err := walk(dec, data, elem, depth+1, at); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// structFields maps each JSON name of t's fields (with embedded structs'
// promoted) to its type.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// expected lists the valid keys, a case-insensitive match first.
func expected(fields map[string]reflect.Type, key string) string {
	for k := range fields {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf("%q: keys are case-sensitive", k)
		}
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return "one of " + strings.Join(names, ", ")
}

// clip shortens a value echoed in a message.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
