package main

import (
	"fmt"
	"path/filepath"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/roofline"
)

// vidurNodes are Vidur's measured NVLink nodes and their GPUs.
var vidurNodes = map[string]string{"a100_pairwise_nvlink": "a100", "a100_dgx": "a100", "h100_pairwise_nvlink": "h100", "h100_dgx": "h100"}

// networkPoints reads Vidur's measured all-reduce (within a node) and
// send/recv (two GPUs of a node) profiles, as embedded in profiles/network.
func networkPoints(root, collective string) ([]roofline.LinkPoint, error) {
	var out []roofline.LinkPoint
	for _, node := range []string{"a100_dgx", "a100_pairwise_nvlink", "h100_dgx", "h100_pairwise_nvlink"} {
		g, err := model.LookupGPU(vidurNodes[node])
		if err != nil {
			return nil, err
		}
		bw := roofline.LinkGBps(g) * 1e9
		f := filepath.Join(root, "profiles/network", node, collective+".csv")
		rows, err := readCSV(f)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			var v [3]float64
			for i, c := range []string{"num_workers", "devices_per_node", "size"} {
				if v[i], err = num(row, c, f); err != nil {
					return nil, err
				}
			}
			workers, dpn, size := v[0], v[1], v[2]
			traffic := size
			if collective == "all_reduce" {
				if dpn != workers { // across nodes: not a link of one node
					continue
				}
				traffic = 2 * (workers - 1) / workers * size
			} else if dpn != 2 {
				continue
			}
			ms, err := num(row, "time_stats."+collective+".median", f)
			if err != nil {
				return nil, err
			}
			out = append(out, roofline.LinkPoint{Group: fmt.Sprintf("%s/%g", node, workers), IdealMs: traffic / bw * 1e3, Ms: ms, Workers: workers})
		}
	}
	return out, nil
}
