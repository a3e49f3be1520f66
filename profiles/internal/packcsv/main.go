// Command packcsv writes each named CSV's packed form beside it
// (attention.csv -> attention.csv.pack, engine/csvin's lossless columnar
// encoding), which the profiles package embeds instead of the CSV:
//
//	go run ./internal/packcsv a100/qwen3-0.6b/attention.csv
//
// (go generate ./profiles runs it for the embedded sets). It fails, writing
// nothing, for a CSV that does not pack byte for byte.
package main

import (
	"fmt"
	"os"

	"github.com/servesim/servesim/engine/csvin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: packcsv FILE.csv...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		if err := pack(name); err != nil {
			fmt.Fprintln(os.Stderr, "packcsv:", err)
			os.Exit(1)
		}
	}
}

func pack(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	pk, err := csvin.Pack(b, name)
	if err != nil {
		return err
	}
	return os.WriteFile(name+csvin.PackSuffix, pk, 0o644)
}
