// Command packcsv writes each named CSV's packed form beside it
// (attention.csv -> attention.csv.pack, engine/csvin's lossless columnar
// encoding), which the profiles package embeds instead of the CSV. A
// folder named stands for every CSV under it:
//
//	go run ./internal/packcsv a100/qwen3-0.6b/attention.csv
//	go run ./internal/packcsv a100 h100 h200 network
//
// (go generate ./profiles runs it for the embedded sets). It fails, writing
// nothing more, at a CSV that does not pack byte for byte.
package main

import (
	"fmt"
	"os"

	"github.com/servesim/servesim/profiles/internal/packdir"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: packcsv FILE.csv|FOLDER...")
		os.Exit(2)
	}
	for _, arg := range os.Args[1:] {
		if err := packdir.Pack(arg); err != nil {
			fmt.Fprintln(os.Stderr, "packcsv:", err)
			os.Exit(1)
		}
	}
}
