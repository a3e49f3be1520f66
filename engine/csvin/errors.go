// Package csvin reads headed CSV files and reports problems with their
// position: file, line, column and what was expected.
package csvin

import "fmt"

// Error is a problem with user-supplied input at a known position.
// Line and Col are 1-based; Col is the CSV field number (0 when the whole
// line or file is meant). Column names the field when known.
type Error struct {
	File   string
	Line   int
	Col    int
	Column string
	Want   string // what was expected
	Got    string // what was found (may be empty)
}

func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos += fmt.Sprintf(":%d", e.Line)
		if e.Col > 0 {
			pos += fmt.Sprintf(":%d", e.Col)
		}
	}
	col := ""
	if e.Column != "" {
		col = " (" + e.Column + ")"
	}
	if e.Got == "" {
		return fmt.Sprintf("%s%s: expected %s", pos, col, e.Want)
	}
	return fmt.Sprintf("%s%s: expected %s, got %s", pos, col, e.Want, e.Got)
}
