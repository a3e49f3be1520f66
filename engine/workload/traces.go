package workload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/servesim/servesim/engine/csvin"
)

// The shared trace formats (Mooncake/AIPerf, Bailian, vLLM custom JSONL;
// BurstGPT, Azure, Splitwise CSV). Each is detected from its content: a
// JSONL file by the keys of its first object, a CSV file by its header.
// Files are read line by line (never whole), so memory grows with the
// number of requests, not with the file.

// BackwardsTolerance is how far (in ns of the trace's own clock) an
// arrival time may go back from the previous row's: within it the row is
// kept in place at the previous row's time (counted in Workload.Notes);
// beyond it the file is refused at that line. Traces logged at millisecond
// precision by several frontends show such jitter; nothing larger is
// silently reordered.
const BackwardsTolerance = int64(time.Millisecond)

// Block sizes of the hash_ids of each format, in tokens.
const (
	MooncakeBlockTokens = 512
	BailianBlockTokens  = 16
)

// maxLine bounds one JSONL line (a Mooncake line holds one hash id per 512
// prompt tokens, so a 1M-token prompt is ~16 KB).
const maxLine = 64 << 20

// isJSONL reports whether the stream holds JSON objects: its first
// non-blank byte (after a byte-order mark) is '{', or the name says so.
func isJSONL(br *bufio.Reader, name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".ndjson") {
		return true
	}
	for size := 512; size <= 1<<16; size *= 2 {
		b, err := br.Peek(size)
		b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
			return t[0] == '{'
		}
		if err != nil {
			return false
		}
	}
	return false
}

// lineReader yields the non-blank lines of a JSONL stream with their
// 1-based line numbers.
type lineReader struct {
	sc   *bufio.Scanner
	name string
	line int
}

func newLineReader(r io.Reader, name string) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), maxLine)
	return &lineReader{sc: sc, name: name}
}

func (l *lineReader) next() ([]byte, error) {
	for l.sc.Scan() {
		l.line++
		b := l.sc.Bytes()
		if l.line == 1 {
			b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
		}
		b = bytes.TrimSpace(b)
		if len(b) > 0 {
			return b, nil
		}
	}
	if err := l.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &csvin.Error{File: l.name, Line: l.line + 1, Want: fmt.Sprintf("lines of at most %d MiB", maxLine>>20), Got: "a longer line"}
		}
		return nil, fmt.Errorf("read %s: %w", l.name, err)
	}
	return nil, io.EOF
}

func (l *lineReader) errf(field, want, got string) error {
	return &csvin.Error{File: l.name, Line: l.line, Column: field, Want: want, Got: got}
}

// Keys that identify each JSONL format from its first object.
var (
	bailianKeys  = []string{"chat_id", "parent_chat_id"}
	mooncakeKeys = []string{"input_length", "output_length", "hash_ids", "text_input", "delay", "session_id"}
	vllmKeys     = []string{"prompt_len", "prompt_tokens", "output_tokens", "output_len"}
)

func hasAny(m map[string]bool, keys []string) bool {
	for _, k := range keys {
		if m[k] {
			return true
		}
	}
	return false
}

// parseJSONL detects the JSONL format from the first object and reads the
// file in it.
func parseJSONL(r io.Reader, name string) (parsed, error) {
	lr := newLineReader(r, name)
	first, err := lr.next()
	if err == io.EOF {
		return parsed{kind: kindPrompts, name: name}, nil
	}
	if err != nil {
		return parsed{}, err
	}
	keys := map[string]bool{}
	probe := newObjReader(lr, "JSONL")
	if err := probe.each(first, func(name []byte) error { keys[string(name)] = true; return probe.skip() }); err != nil {
		return parsed{}, err
	}
	p := parsed{name: name}
	switch {
	case hasAny(keys, bailianKeys):
		p.kind, p.blockTokens = kindBailian, BailianBlockTokens
		err = parseBailian(lr, first, &p)
	case hasAny(keys, mooncakeKeys):
		p.kind, p.blockTokens = kindMooncake, MooncakeBlockTokens
		err = parseMooncake(lr, first, &p)
	case hasAny(keys, vllmKeys):
		p.kind = kindVLLMCustom
		err = parseVLLMCustom(lr, first, &p)
	default:
		p.kind = kindPrompts
		for k := range keys {
			p.keys = append(p.keys, k)
		}
		sort.Strings(p.keys)
		p.lines = 1
		for {
			b, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return p, err
			}
			if !json.Valid(b) || b[0] != '{' {
				return p, lr.errf("", "one JSON object per line", csvin.Quote(string(b)))
			}
			p.lines++
		}
		return p, nil
	}
	if err == nil && len(p.rows) == 0 {
		err = &csvin.Error{File: name, Line: 1, Want: "at least one request", Got: "none"}
	}
	return p, err
}

// rows collects the rows of a trace with its hash ids and arrival checks.
type rowSink struct {
	p        *parsed
	lr       *lineReader
	lastArr  int64 // last open-loop arrival (ns), -1 before the first
	lastLine int
	clamped  int
	anyHash  bool
}

func newSink(p *parsed, lr *lineReader) *rowSink {
	return &rowSink{p: p, lr: lr, lastArr: -1}
}

// arrival checks an open-loop arrival against the previous one.
func (s *rowSink) arrival(ns int64, field string, unit float64, unitName string) (int64, error) {
	if s.lastArr >= 0 && ns < s.lastArr {
		if s.lastArr-ns > BackwardsTolerance {
			return 0, s.lr.errf(field, fmt.Sprintf("non-decreasing %s (within %d ms of the previous arrival, %v %s at line %d)",
				field, BackwardsTolerance/int64(time.Millisecond), float64(s.lastArr)/unit, unitName, s.lastLine), fmt.Sprint(float64(ns)/unit))
		}
		s.clamped++
		ns = s.lastArr
	}
	s.lastArr, s.lastLine = ns, s.lr.line
	return ns, nil
}

func (s *rowSink) add(r rawRow, hash []int64) error {
	if len(s.p.rows) == MaxRequests {
		return &csvin.Error{File: s.p.name, Line: s.lr.line, Want: fmt.Sprintf("at most %d requests in one workload", MaxRequests), Got: "more rows"}
	}
	if len(hash) > 0 && !s.anyHash {
		s.anyHash = true
		s.p.hashOff = make([]int32, len(s.p.rows)+1, cap(s.p.rows)+1)
	}
	if s.anyHash {
		if len(s.p.hashIDs)+len(hash) > math.MaxInt32 {
			return &csvin.Error{File: s.p.name, Line: s.lr.line, Column: "hash_ids", Want: "at most 2^31 hash ids in one workload", Got: "more"}
		}
		s.p.hashIDs = append(s.p.hashIDs, hash...)
		s.p.hashOff = append(s.p.hashOff, int32(len(s.p.hashIDs)))
	}
	s.p.rows = append(s.p.rows, r)
	return nil
}

func (s *rowSink) finish() {
	if s.clamped > 0 {
		s.p.notes = append(s.p.notes, fmt.Sprintf("%d arrivals went back in time by at most %d ms and were kept in place at the previous row's time",
			s.clamped, BackwardsTolerance/int64(time.Millisecond)))
	}
}

// lengths checks the prompt and output token counts of a row.
func (s *rowSink) lengths(pField string, p *int64, dField string, d *int64, format string) (int64, int64, error) {
	if p == nil {
		return 0, 0, s.lr.errf(pField, "a field "+pField+" ("+format+")", "none")
	}
	if d == nil {
		return 0, 0, s.lr.errf(dField, "a field "+dField+" ("+format+")", "none")
	}
	if *p < 1 {
		return 0, 0, s.lr.errf(pField, "an integer >= 1", fmt.Sprint(*p))
	}
	if *d < 1 {
		return 0, 0, s.lr.errf(dField, "an integer >= 1", fmt.Sprint(*d))
	}
	if *p > MaxRequestTokens {
		return 0, 0, s.lr.errf(pField, fmt.Sprintf("an integer <= %d", MaxRequestTokens), fmt.Sprint(*p))
	}
	if *d > MaxRequestTokens {
		return 0, 0, s.lr.errf(dField, fmt.Sprintf("an integer <= %d", MaxRequestTokens), fmt.Sprint(*d))
	}
	return *p, *d, nil
}

// seconds converts a non-negative finite time in unit seconds to ns.
func (s *rowSink) toNs(v *float64, field string, unitNs float64) (int64, error) {
	if v == nil {
		return 0, s.lr.errf(field, "a field "+field, "none")
	}
	if math.IsNaN(*v) || *v < 0 || *v*unitNs > float64(MaxTimeNs) {
		return 0, s.lr.errf(field, "a finite number >= 0 (below 1e9 s)", fmt.Sprint(*v))
	}
	return int64(math.Round(*v * unitNs)), nil
}

// mooncakeLine is one Mooncake/AIPerf line's members (nil: absent).
type mooncakeLine struct {
	timestamp, delay          *float64
	inputLength, outputLength *int64
	hashIDs                   []int64
	sessionID                 *string
	textInput, chatID         bool
	ts, dl                    float64
	in, out                   int64
	sid                       string
}

// read fills m from one line (reusing its hash_ids buffer).
func (m *mooncakeLine) read(o *objReader, line []byte) error {
	hash := m.hashIDs[:0]
	*m = mooncakeLine{hashIDs: hash}
	return o.each(line, func(name []byte) error {
		if o.isNull() {
			return nil
		}
		var err error
		switch string(name) {
		case "timestamp":
			m.ts, err = o.float()
			m.timestamp = &m.ts
		case "delay":
			m.dl, err = o.float()
			m.delay = &m.dl
		case "input_length":
			m.in, err = o.int()
			m.inputLength = &m.in
		case "output_length":
			m.out, err = o.int()
			m.outputLength = &m.out
		case "hash_ids":
			m.hashIDs, err = o.ints(hash)
		case "session_id":
			m.sid, err = o.str(true)
			m.sessionID = &m.sid
		case "text_input":
			m.textInput = true
			err = o.skip()
		case "chat_id":
			m.chatID = true
			err = o.skip()
		default:
			err = o.skip()
		}
		return err
	})
}

// parseMooncake reads a Mooncake / AIPerf trace: timestamp (ms since the
// trace start), input_length, output_length, optional hash_ids (512-token
// blocks). AIPerf's session_id groups lines into sessions: a session's first
// line arrives at its timestamp; each later line arrives delay ms (0 if
// absent) after the previous line of the session completes, and not before
// its own timestamp if it gives one instead of a delay.
func parseMooncake(lr *lineReader, first []byte, p *parsed) error {
	const format = "Mooncake/AIPerf trace"
	s := newSink(p, lr)
	last := map[string]int32{} // session -> 1 + index of its latest line
	o := newObjReader(lr, format)
	var m mooncakeLine
	b := first
	for {
		if err := m.read(o, b); err != nil {
			return err
		}
		if m.chatID {
			return lr.errf("chat_id", "one format per file: line 1 began a "+kindMooncake.String(), "a Bailian trace line (chat_id)")
		}
		if m.inputLength == nil && m.textInput {
			return lr.errf("input_length", "a field input_length (servesim has no tokenizer, so text_input needs an explicit input_length)", "text_input only")
		}
		pl, dl, err := s.lengths("input_length", m.inputLength, "output_length", m.outputLength, format)
		if err != nil {
			return err
		}
		r := rawRow{p: pl, d: dl, line: int32(lr.line)}
		var sess string
		inSession := m.sessionID != nil
		if inSession {
			sess = *m.sessionID
		}
		prev, cont := last[sess]
		switch {
		case inSession && cont:
			if m.timestamp != nil && m.delay != nil {
				return lr.errf("delay", "timestamp or delay, not both (a later turn of session "+strconv.Quote(sess)+")", "both")
			}
			r.closed, r.parent = true, prev
			r.session, r.turn = p.rows[prev-1].session, p.rows[prev-1].turn+1
			if m.delay != nil {
				if r.delay, err = s.toNs(m.delay, "delay", 1e6); err != nil {
					return err
				}
			}
			if m.timestamp != nil {
				if r.arrival, err = s.toNs(m.timestamp, "timestamp", 1e6); err != nil {
					return err
				}
			}
		default:
			if m.delay != nil && !inSession {
				return lr.errf("delay", "delay only on a later turn of a session (a line with a session_id seen before)", fmt.Sprint(*m.delay))
			}
			if m.timestamp == nil {
				want := "a field timestamp (ms): an open-loop line needs its arrival time"
				if inSession {
					want = "a field timestamp (ms) on the first turn of session " + strconv.Quote(sess)
				}
				return lr.errf("timestamp", want, "none")
			}
			ns, err := s.toNs(m.timestamp, "timestamp", 1e6)
			if err != nil {
				return err
			}
			if r.arrival, err = s.arrival(ns, "timestamp", 1e6, "ms"); err != nil {
				return err
			}
			if inSession {
				p.sessions = append(p.sessions, sess)
				r.session, r.turn = int32(len(p.sessions)), 1
			}
		}
		if err := s.add(r, m.hashIDs); err != nil {
			return err
		}
		if inSession {
			last[sess] = int32(len(p.rows))
		}
		if b, err = lr.next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	s.finish()
	return nil
}

// bailianLine is one Bailian line's members (nil: absent).
type bailianLine struct {
	chatID, parentChatID, inputLength, outputLength, turn *int64
	timestamp                                             *float64
	hashIDs                                               []int64
	v                                                     [5]int64
	ts                                                    float64
}

// read fills m from one line (reusing its hash_ids buffer).
func (m *bailianLine) read(o *objReader, line []byte) error {
	hash := m.hashIDs[:0]
	*m = bailianLine{hashIDs: hash}
	return o.each(line, func(name []byte) error {
		if o.isNull() {
			return nil
		}
		var err error
		intField := func(k int, dst **int64) {
			m.v[k], err = o.int()
			*dst = &m.v[k]
		}
		switch string(name) {
		case "chat_id":
			intField(0, &m.chatID)
		case "parent_chat_id":
			intField(1, &m.parentChatID)
		case "input_length":
			intField(2, &m.inputLength)
		case "output_length":
			intField(3, &m.outputLength)
		case "turn":
			intField(4, &m.turn)
		case "timestamp":
			m.ts, err = o.float()
			m.timestamp = &m.ts
		case "hash_ids":
			m.hashIDs, err = o.ints(hash)
		default:
			err = o.skip()
		}
		return err
	})
}

// parseBailian reads an Alibaba Bailian (Qwen) trace: chat_id,
// parent_chat_id (-1 for a first turn), timestamp (s), input_length,
// output_length, type, turn, hash_ids (16-token blocks). Every request
// arrives at its timestamp (the trace records arrivals); parent_chat_id
// links turns into sessions, and a parent must appear before its child.
func parseBailian(lr *lineReader, first []byte, p *parsed) error {
	const format = "Bailian trace"
	s := newSink(p, lr)
	index := map[int64]int32{} // chat_id -> 1 + row index
	o := newObjReader(lr, format)
	var m bailianLine
	b := first
	for {
		if err := m.read(o, b); err != nil {
			return err
		}
		if m.chatID == nil {
			return lr.errf("chat_id", "a field chat_id ("+format+")", "none")
		}
		if m.parentChatID == nil {
			return lr.errf("parent_chat_id", "a field parent_chat_id (-1 for a first turn)", "none")
		}
		if _, dup := index[*m.chatID]; dup {
			return lr.errf("chat_id", "a chat_id not seen before", fmt.Sprint(*m.chatID))
		}
		pl, dl, err := s.lengths("input_length", m.inputLength, "output_length", m.outputLength, format)
		if err != nil {
			return err
		}
		ns, err := s.toNs(m.timestamp, "timestamp", 1e9)
		if err != nil {
			return err
		}
		r := rawRow{p: pl, d: dl, line: int32(lr.line)}
		if r.arrival, err = s.arrival(ns, "timestamp", 1e9, "s"); err != nil {
			return err
		}
		switch par := *m.parentChatID; {
		case par == -1:
			p.sessions = append(p.sessions, strconv.FormatInt(*m.chatID, 10))
			r.session, r.turn = int32(len(p.sessions)), 1
		case par < 0:
			return lr.errf("parent_chat_id", "-1 (a first turn) or a chat_id", fmt.Sprint(par))
		default:
			pi, ok := index[par]
			if !ok {
				return lr.errf("parent_chat_id", "the chat_id of a line before this one (a turn's parent comes first)",
					fmt.Sprintf("%d, which no earlier line has", par))
			}
			r.parent = pi
			pr := &p.rows[pi-1]
			r.session, r.turn = pr.session, pr.turn+1
		}
		if m.turn != nil {
			if *m.turn < 0 || *m.turn > math.MaxInt32 {
				return lr.errf("turn", "an integer >= 0", fmt.Sprint(*m.turn))
			}
			r.turn = int32(*m.turn)
		}
		if err := s.add(r, m.hashIDs); err != nil {
			return err
		}
		index[*m.chatID] = int32(len(p.rows))
		if b, err = lr.next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	s.finish()
	return nil
}

// vllmLine is one vLLM custom line's members (nil: absent).
type vllmLine struct {
	promptLen, promptTokens, outputTokens, outputLen *int64
	prompt                                           bool
	v                                                [4]int64
}

func (m *vllmLine) read(o *objReader, line []byte) error {
	*m = vllmLine{}
	return o.each(line, func(name []byte) error {
		if o.isNull() {
			return nil
		}
		var err error
		intField := func(k int, dst **int64) {
			m.v[k], err = o.int()
			*dst = &m.v[k]
		}
		switch string(name) {
		case "prompt_len":
			intField(0, &m.promptLen)
		case "prompt_tokens":
			intField(1, &m.promptTokens)
		case "output_tokens":
			intField(2, &m.outputTokens)
		case "output_len":
			intField(3, &m.outputLen)
		case "prompt":
			m.prompt = true
			err = o.skip()
		default:
			err = o.skip()
		}
		return err
	})
}

// parseVLLMCustom reads vLLM bench serve's custom dataset JSONL with
// explicit token counts: prompt (text, unused), prompt_len (or
// prompt_tokens) and output_tokens (or output_len). It has no arrival
// times: arrivals come from the synthetic process, as --request-rate gives
// them in vllm bench serve.
func parseVLLMCustom(lr *lineReader, first []byte, p *parsed) error {
	const format = "vLLM custom JSONL"
	s := newSink(p, lr)
	o := newObjReader(lr, format)
	var m vllmLine
	b := first
	for {
		if err := m.read(o, b); err != nil {
			return err
		}
		pl, pf := m.promptLen, "prompt_len"
		if pl == nil && m.promptTokens != nil {
			pl, pf = m.promptTokens, "prompt_tokens"
		}
		ol, of := m.outputTokens, "output_tokens"
		if ol == nil && m.outputLen != nil {
			ol, of = m.outputLen, "output_len"
		}
		if pl == nil && m.prompt {
			return lr.errf("prompt_len", "a field prompt_len (servesim has no tokenizer, so a prompt needs its token count)", "prompt only")
		}
		pv, dv, err := s.lengths(pf, pl, of, ol, format)
		if err != nil {
			return err
		}
		if err := s.add(rawRow{p: pv, d: dv, line: int32(lr.line)}, nil); err != nil {
			return err
		}
		if b, err = lr.next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	return nil
}

// parseTraceCSV reads the rows of a BurstGPT, Azure or Splitwise CSV.
func parseTraceCSV(t *csvin.Table, p *parsed) error {
	var tsCol, pCol, dCol string
	const unit = 1e9 // the CSV formats give seconds
	switch p.kind {
	case kindBurstGPT:
		tsCol, pCol, dCol = "Timestamp", "Request tokens", "Response tokens"
	case kindAzure:
		tsCol, pCol, dCol = "TIMESTAMP", "ContextTokens", "GeneratedTokens"
	case kindSplitwise:
		tsCol, pCol, dCol = "arrival_timestamp", "prompt_size", "token_size"
	}
	sessCol := ""
	for _, c := range []string{"Session ID", "SessionID", "Session id", "session_id"} {
		if t.Has(c) {
			sessCol = c
			break
		}
	}
	models := map[string]int32{}
	sessions := map[string]int32{}
	lastTurn := map[int32]int32{}
	lastRow := map[int32]int32{}
	var lastArr int64 = -1
	var t0 time.Time
	clamped := 0
	for {
		err := t.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		r := rawRow{line: int32(t.Line())}
		if r.p, err = t.IntBetween(pCol, 1, MaxRequestTokens); err != nil {
			return err
		}
		if r.d, err = t.IntBetween(dCol, 1, MaxRequestTokens); err != nil {
			if p.kind == kindBurstGPT {
				return fmt.Errorf("%w (BurstGPT logs a failed request with 0 response tokens: use its BurstGPT_without_fails_*.csv files)", err)
			}
			return err
		}
		var ns int64
		if p.kind == kindAzure {
			cell, _ := t.Field(tsCol)
			ts, err := parseAzureTime(cell)
			if err != nil {
				return t.ErrAt(tsCol, "a time like 2023-11-16 18:15:46.6805900 or 2024-05-10 00:00:00.009930+00:00", csvin.Quote(cell))
			}
			if t0.IsZero() {
				t0 = ts
			}
			d := ts.Sub(t0)
			if d < -time.Duration(BackwardsTolerance) {
				return t.ErrAt(tsCol, fmt.Sprintf("non-decreasing times (within %d ms of the first row's, %s)", BackwardsTolerance/int64(time.Millisecond), t0.Format(time.RFC3339Nano)), csvin.Quote(cell))
			}
			ns = max(int64(d), 0)
		} else {
			v, err := t.NonNegFloat(tsCol)
			if err != nil {
				return err
			}
			if v*unit > float64(MaxTimeNs) {
				return t.ErrAt(tsCol, "an arrival time in seconds below 1e9", fmt.Sprint(v))
			}
			ns = int64(math.Round(v * unit))
		}
		if lastArr >= 0 && ns < lastArr {
			if lastArr-ns > BackwardsTolerance {
				cell, _ := t.Field(tsCol)
				return t.ErrAt(tsCol, fmt.Sprintf("non-decreasing arrival times (within %d ms of the previous row's)", BackwardsTolerance/int64(time.Millisecond)), csvin.Quote(cell))
			}
			clamped++
			ns = lastArr
		}
		r.arrival, lastArr = ns, ns
		if p.kind == kindBurstGPT {
			if t.Has("Total tokens") {
				tot, err := t.IntAtLeast("Total tokens", 0)
				if err != nil {
					return err
				}
				if tot != r.p+r.d {
					return t.ErrAt("Total tokens", fmt.Sprintf("Request tokens + Response tokens (%d)", r.p+r.d), fmt.Sprint(tot))
				}
			}
			name, _ := t.Field("Model")
			mi, ok := models[name]
			if !ok {
				mi = int32(len(p.models))
				models[name] = mi
				p.models = append(p.models, name)
			}
			r.model = mi
		}
		if sessCol != "" {
			if name, _ := t.Field(sessCol); name != "" {
				si, ok := sessions[name]
				if !ok {
					p.sessions = append(p.sessions, name)
					si = int32(len(p.sessions))
					sessions[name] = si
				}
				r.session = si
				lastTurn[si]++
				r.turn = lastTurn[si]
				r.parent = lastRow[si]
			}
		}
		if len(p.rows) == MaxRequests {
			return &csvin.Error{File: p.name, Line: t.Line(), Want: fmt.Sprintf("at most %d requests in one workload", MaxRequests), Got: "more rows"}
		}
		p.rows = append(p.rows, r)
		if r.session > 0 {
			lastRow[r.session] = int32(len(p.rows))
		}
	}
	if len(p.rows) == 0 {
		return &csvin.Error{File: p.name, Line: 2, Want: "at least one data row", Got: "only a header"}
	}
	if clamped > 0 {
		p.notes = append(p.notes, fmt.Sprintf("%d arrivals went back in time by at most %d ms and were kept in place at the previous row's time",
			clamped, BackwardsTolerance/int64(time.Millisecond)))
	}
	if p.kind == kindAzure {
		p.notes = append(p.notes, "arrivals are TIMESTAMP minus the first row's ("+t0.Format(time.RFC3339Nano)+")")
	}
	// BurstGPT's Timestamp counts from the start of its collection (BurstGPT_3's
	// first row is at 19440110 s): the replay starts at the first request.
	if t0 := p.rows[0].arrival; p.kind == kindBurstGPT && t0 > 0 {
		for i := range p.rows {
			p.rows[i].arrival -= t0
		}
		p.notes = append(p.notes, fmt.Sprintf("arrivals are Timestamp minus the first row's (%v s)", float64(t0)/1e9))
	}
	return nil
}

// parseAzureTime reads the Azure traces' TIMESTAMP: 2023's
// "2023-11-16 18:15:46.6805900" (no zone: UTC) or 2024's
// "2024-05-10 00:00:00.009930+00:00".
func parseAzureTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// hashNotes are the notes on a trace's hash_ids read as bt-token blocks:
// the block size when opt set it, and the requests whose count of ids is
// not one per bt prompt tokens (kept as given).
func hashNotes(p *parsed, bt int) []string {
	var out []string
	if bt != p.blockTokens {
		out = append(out, fmt.Sprintf("hash_ids read as blocks of %d prompt tokens (hash_block_tokens; the format's own: %d)", bt, p.blockTokens))
	}
	n, first := 0, 0
	for i, r := range p.rows {
		if k := int64(p.hashOff[i+1] - p.hashOff[i]); k > 0 && k != (r.p+int64(bt)-1)/int64(bt) {
			if n == 0 {
				first = int(r.line)
			}
			n++
		}
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%d requests (the first at line %d) have a hash_ids count other than one per %d prompt tokens (kept as given)", n, first, bt))
	}
	return out
}

// loadTrace builds the workload of one shared-format trace file.
func loadTrace(ctx context.Context, p *parsed, opt Options) (*Workload, error) {
	rows := p.rows
	hashOff := p.hashOff
	var notes []string
	if opt.HashBlockTokens < 0 || opt.HashBlockTokens > MaxHashBlockTokens {
		return nil, fmt.Errorf("workload: hash_block_tokens: expected 0 (the format's own) to %d tokens per hash_ids block, got %d", MaxHashBlockTokens, opt.HashBlockTokens)
	}
	bt := p.blockTokens
	if hashOff != nil {
		if opt.HashBlockTokens > 0 {
			bt = opt.HashBlockTokens
		}
		p.notes = append(hashNotes(p, bt), p.notes...)
	}
	if opt.Model != "" {
		if p.kind != kindBurstGPT {
			return nil, fmt.Errorf("workload: %s: the model filter (%q) applies to BurstGPT traces only; this is a %s", p.name, opt.Model, p.kind)
		}
		mi := int32(-1)
		for i, m := range p.models {
			if m == opt.Model {
				mi = int32(i)
			}
		}
		if mi < 0 {
			return nil, fmt.Errorf("workload: %s: no row has Model %q (models in the file: %s)", p.name, opt.Model, strings.Join(p.models, ", "))
		}
		kept := make([]rawRow, 0, len(rows))
		remap := make([]int32, len(rows)+1)
		for i, r := range rows {
			if r.model != mi {
				continue
			}
			if r.parent > 0 {
				r.parent = remap[r.parent]
			}
			kept = append(kept, r)
			remap[i+1] = int32(len(kept))
		}
		notes = append(notes, fmt.Sprintf("kept the %d of %d rows with Model %s (model filter)", len(kept), len(rows), opt.Model))
		rows = kept
	}
	var w *Workload
	if p.kind == kindVLLMCustom || opt.LengthsOnly {
		var err error
		if w, err = generateFromLengths(ctx, &parsed{name: p.name, rows: rows}, opt); err != nil {
			return nil, err
		}
		if p.kind != kindVLLMCustom {
			notes = append(notes, "trace_lengths_only: the trace's arrival times, sessions and hash_ids are not used")
		}
	} else {
		var err error
		if w, err = traceReplay(p.name, rows, opt); err != nil {
			return nil, err
		}
		w.Sessions = p.sessions
		if hashOff != nil {
			w.BlockTokens, w.hashOff, w.hashIDs = bt, hashOff, p.hashIDs
		}
	}
	w.Format, w.Files = p.kind.format(), []string{p.name}
	w.Notes = append(append(append([]string{}, p.notes...), notes...), w.Notes...)
	return w, nil
}
