package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// cliFlags is a flag set whose flags are declared in named groups, some with
// a short alias beside the long (Vidur) name, so that the help lists them by
// group and a mistyped flag is answered with the closest name.
type cliFlags struct {
	*flag.FlagSet
	groups []flagGroup
	alias  map[string]string // long name -> short alias
	long   map[string]string // short alias -> long name
}

type flagGroup struct {
	title string
	names []string // in declaration order
}

func newCLIFlags(name string) *cliFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse answers its errors itself, in one line
	fs.Usage = func() {}
	return &cliFlags{FlagSet: fs, alias: map[string]string{}, long: map[string]string{}}
}

// group starts a group: the flags declared next belong to it.
func (c *cliFlags) group(title string) { c.groups = append(c.groups, flagGroup{title: title}) }

func (c *cliFlags) add(name string) {
	if len(c.groups) == 0 {
		c.group("flags")
	}
	g := &c.groups[len(c.groups)-1]
	g.names = append(g.names, name)
}

// The declaring methods of flag.FlagSet, each recording the flag in the
// current group.

func (c *cliFlags) Var(v flag.Value, name, usage string) { c.FlagSet.Var(v, name, usage); c.add(name) }
func (c *cliFlags) BoolVar(p *bool, name string, v bool, usage string) {
	c.FlagSet.BoolVar(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) IntVar(p *int, name string, v int, usage string) {
	c.FlagSet.IntVar(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) Int64Var(p *int64, name string, v int64, usage string) {
	c.FlagSet.Int64Var(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) Uint64Var(p *uint64, name string, v uint64, usage string) {
	c.FlagSet.Uint64Var(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) Float64Var(p *float64, name string, v float64, usage string) {
	c.FlagSet.Float64Var(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) StringVar(p *string, name string, v string, usage string) {
	c.FlagSet.StringVar(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) DurationVar(p *time.Duration, name string, v time.Duration, usage string) {
	c.FlagSet.DurationVar(p, name, v, usage)
	c.add(name)
}
func (c *cliFlags) String(name, v, usage string) *string {
	p := new(string)
	c.StringVar(p, name, v, usage)
	return p
}
func (c *cliFlags) Int(name string, v int, usage string) *int {
	p := new(int)
	c.IntVar(p, name, v, usage)
	return p
}
func (c *cliFlags) Int64(name string, v int64, usage string) *int64 {
	p := new(int64)
	c.Int64Var(p, name, v, usage)
	return p
}
func (c *cliFlags) Duration(name string, v time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	c.DurationVar(p, name, v, usage)
	return p
}
func (c *cliFlags) Bool(name string, v bool, usage string) *bool {
	p := new(bool)
	c.BoolVar(p, name, v, usage)
	return p
}

// short declares alias as a second name of the already declared flag long:
// both set the same value, and the later one on the command line wins.
func (c *cliFlags) short(alias, long string) {
	f := c.Lookup(long)
	if f == nil {
		panic("servesim: alias of undeclared flag " + long)
	}
	c.FlagSet.Var(f.Value, alias, "short for --"+long)
	c.alias[long], c.long[alias] = alias, long
}

// given says whether the flag (by its long name or its alias) was set on
// the command line.
func (c *cliFlags) given(long string) bool {
	set := false
	c.Visit(func(f *flag.Flag) {
		if f.Name == long || f.Name == c.alias[long] && c.alias[long] != "" {
			set = true
		}
	})
	return set
}

// printHelp writes the flags group by group: the short alias first where
// there is one, Vidur's long name beside it.
func (c *cliFlags) printHelp(w io.Writer) {
	groups := c.groups
	grouped := map[string]bool{}
	for _, g := range groups {
		for _, n := range g.names {
			grouped[n] = true
		}
	}
	other := flagGroup{title: "Other flags"}
	c.VisitAll(func(f *flag.Flag) { // declared through the plain flag.FlagSet methods
		if _, alias := c.long[f.Name]; !alias && !grouped[f.Name] {
			other.names = append(other.names, f.Name)
		}
	})
	if len(other.names) > 0 {
		groups = append(groups[:len(groups):len(groups)], other)
	}
	for _, g := range groups {
		fmt.Fprintf(w, "%s:\n", g.title)
		for _, n := range g.names {
			f := c.Lookup(n)
			typ, usage := flag.UnquoteUsage(f)
			if typ != "" {
				typ = " " + strings.ToUpper(typ)
			}
			if a := c.alias[n]; a != "" {
				fmt.Fprintf(w, "  --%s%s   (Vidur: --%s)\n", a, typ, n)
			} else {
				fmt.Fprintf(w, "  --%s%s\n", n, typ)
			}
			if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "[]" {
				usage += fmt.Sprintf(" (default %s)", def)
			}
			fmt.Fprintf(w, "        %s\n", usage)
		}
		fmt.Fprintln(w)
	}
}

// names lists every flag name, aliases included.
func (c *cliFlags) names() []string {
	var out []string
	c.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

// parse parses args. On -h it writes help (from the function given) to
// stdout and returns exitOK, done; on any other error it writes one line to
// stderr (a mistyped flag with the closest flag's name) and returns
// exitUsage, done.
func (c *cliFlags) parse(args []string, help func(io.Writer), stdout, stderr io.Writer) (code int, done bool) {
	err := c.Parse(args)
	if err == nil {
		return exitOK, false
	}
	if errors.Is(err, flag.ErrHelp) {
		help(stdout)
		return exitOK, true
	}
	cmd := c.Name()
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		msg := fmt.Sprintf("servesim %s: unknown flag --%s", cmd, strings.TrimPrefix(name, "-"))
		if near := closestFlag(name, c.names()); near != "" {
			msg += fmt.Sprintf("; did you mean --%s?", near)
		}
		fmt.Fprintf(stderr, "%s (servesim %s -h lists every flag)\n", msg, cmd)
		return exitUsage, true
	}
	fmt.Fprintf(stderr, "servesim %s: %s (servesim %s -h lists every flag)\n", cmd, dashes(err.Error()), cmd)
	return exitUsage, true
}

// dashes writes the flag package's "-name" as "--name" in an error message.
func dashes(msg string) string {
	for _, p := range []string{"flag -", "argument: -"} {
		msg = strings.Replace(msg, p, p+"-", 1)
	}
	return msg
}

// closestFlag returns the flag name nearest to typed, or "" when none is
// near: the same name up to case and '-' vs '_'; else the smallest edit
// distance (a swap of two letters counts one) within a third of the
// name's length, at least 2; else the shortest name containing it.
func closestFlag(typed string, names []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(strings.TrimLeft(s, "-"), "-", "_")) }
	t := norm(typed)
	if t == "" {
		return ""
	}
	for _, n := range names {
		if norm(n) == t {
			return n
		}
	}
	best, bestD := "", 0
	for _, n := range names {
		d := editDistance(t, norm(n))
		if d <= max(2, len(t)/3) && (best == "" || d < bestD || d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	if best != "" || len(t) < 3 {
		return best
	}
	for _, n := range names {
		if strings.Contains(norm(n), t) && (best == "" || len(n) < len(best) || len(n) == len(best) && n < best) {
			best = n
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b
// (bytes): insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
