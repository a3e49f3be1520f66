// Command roofline fits the roofline estimate's efficiencies and floors
// (engine/roofline) on every measured per-operator timing servesim holds,
// Vidur's public A100/H100/A40 MLP profiles and the H200 set of the
// reference engine, and prints its held-out errors: leave one model out,
// leave one GPU out, per operator and for a whole layer's MLP-side time.
//
//	go run ./bench/roofline            # print the validation table
//	go run ./bench/roofline -write     # also rewrite engine/roofline/coeffs.json
//
// Run it from the repository root with ../shared beside the checkout.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servesim/servesim/engine/roofline"
)

func main() {
	shared := flag.String("shared", "../shared", "the shared folder (Vidur's public data)")
	write := flag.Bool("write", false, "rewrite engine/roofline/coeffs.json with the fit")
	flag.Parse()
	if err := run(os.Stdout, ".", *shared, *write); err != nil {
		fmt.Fprintln(os.Stderr, "roofline:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, root, shared string, write bool) error {
	rep, err := report(root, shared)
	if err != nil {
		return err
	}
	if write { // before the step comparison, which generates with the embedded file
		b, err := rep.CoeffsJSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, "engine/roofline/coeffs.json"), b, 0o644); err != nil {
			return err
		}
	}
	rows, err := compareSteps(root, rep.H200HeldOut)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, rep.Markdown()+rep.opgridMarkdown()+stepMarkdown(rows))
	return err
}

// report fits and validates on every measured sample and network profile.
func report(root, shared string) (*Report, error) {
	samples, err := loadAll(root, shared)
	if err != nil {
		return nil, err
	}
	rep := validate(samples)
	net := map[string][]roofline.LinkPoint{}
	for _, c := range []string{"all_reduce", "send_recv"} {
		if net[c], err = networkPoints(root, c); err != nil {
			return nil, err
		}
	}
	rep.fitNetwork(net)
	og, err := opgridSamples(root)
	if err != nil {
		return nil, err
	}
	rep.checkOpgrid(og)
	return rep, nil
}
