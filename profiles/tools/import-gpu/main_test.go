package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "batch_log.csv")
	os.WriteFile(p, []byte("iteration,start_ns,end_ns,batch_size,num_tokens,num_decodes,decode_context_sum,prefills,new_requests,logit_seqs,decode_context_max\n"+
		"0,1000000,21000000,3,514,2,300,512:0,1,3,200\n1,21000000,31000000,1,1,1,513,,0,1,513\n"), 0o644)
	its, err := readLog(p)
	if err != nil {
		t.Fatal(err)
	}
	b := its[0].batch
	if len(its) != 2 || its[0].wallMs != 20 || b.NumRequests != 3 || b.Tokens != 514 || b.NumDecodes != 2 ||
		b.DecodeContextSum != 300 || b.DecodeContextMax != 200 || len(b.Prefills) != 1 || b.Prefills[0].Chunk != 512 || b.NewRequests != 1 || b.LogitSeqs != 3 {
		t.Errorf("%+v", its[0])
	}
	if len(its[1].batch.Prefills) != 0 || its[1].wallMs != 10 {
		t.Errorf("%+v", its[1])
	}
}

func TestBin(t *testing.T) {
	for in, want := range map[int]int{1: 1, 2: 2, 3: 2, 5: 4, 6: 4, 7: 8, 12: 8, 13: 16, 100: 128, 300: 256} {
		if got := bin(in); got != want {
			t.Errorf("bin(%d) = %d, want %d", in, got, want)
		}
	}
}
