package main

import (
	"context"
	"io"

	"github.com/servesim/servesim/presets"
)

func presetsAll() []presets.Preset { return presets.All() }

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return fail(stderr, exitUsage, errNotYet)
}
