package strictjson_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/strictjson"
)

type inner struct {
	ChunkSize int `json:"chunk_size"`
}

type outer struct {
	Seed      uint64            `json:"seed"`
	Scheduler inner             `json:"scheduler"`
	Files     []struct{ A int } `json:"files"`
	Free      map[string]any    `json:"free"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in  string
		line, col int
		msg       string
	}{
		{"ok, absent keys kept", `{"scheduler":{}, "free":{"Any":1}}`, 0, 0, ""},
		{"case differs", `{"Scheduler":{"Chunk_Size":0}}`, 1, 2, `unknown key "Scheduler" (expected "scheduler": keys are case-sensitive)`},
		{"nested unknown", "{\n  \"scheduler\": {\"chunk\": 1}\n}", 2, 17, `unknown key "chunk" (expected one of chunk_size)`},
		{"trailing data", `{"seed":1} garbage`, 1, 12, "unexpected data after the JSON value"},
		{"a second value", "{}\n{}", 2, 1, "unexpected data"},
		{"syntax", "{\"seed\":1,}", 1, 11, "invalid character"},
		{"type", "{\"seed\":\"x\"}", 1, 12, "seed: expected uint64, got a JSON string"},
		{"truncated", `{"seed":`, 1, 9, "ends early"},
		{"slice of structs", `{"files":[{"A":1},{"B":2}]}`, 1, 20, `unknown key "B"`},
		{"deep", strings.Repeat(`{"free":`, 1) + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", 1, 0, "nested deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := outer{Seed: 7, Scheduler: inner{ChunkSize: 512}}
			err := strictjson.Decode([]byte(tc.in), &v)
			if tc.msg == "" {
				if err != nil || v.Seed != 7 || v.Scheduler.ChunkSize != 512 {
					t.Fatalf("%v %+v", err, v)
				}
				return
			}
			var se *strictjson.Error
			if !errors.As(err, &se) || !strings.Contains(se.Msg, tc.msg) || se.Line != tc.line || (tc.col > 0 && se.Column != tc.col) {
				t.Fatalf("got %v, want line %d column %d containing %q", err, tc.line, tc.col, tc.msg)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"seed":1}`, `{"Scheduler":{}}`, `{"files":[{"A":1}]} x`, `[`, `{"free":{"a":[1,{"b":null}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v outer
		err := strictjson.Decode(b, &v)
		var se *strictjson.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("error without a position: %v", err)
		}
		if se != nil && (se.Line < 1 || se.Column < 1) {
			t.Fatalf("position %d:%d", se.Line, se.Column)
		}
	})
}
