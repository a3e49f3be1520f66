package engine

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/servesim/servesim/engine/predict"
)

// TestPredMemo_SameAsMap puts and gets random keys (many repeats, small
// fields so that hashes collide, ±0 and NaN PrefillAttn) in predMemo and
// in a Go map, as stagePrediction does: every answer must be the map's.
func TestPredMemo_SameAsMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m predMemo
	var ps predStore
	ref := map[stageKey]int32{}
	attn := []float64{0, math.Copysign(0, -1), 0.5, -1, math.NaN(), 3.25}
	for n := 0; n < 200_000; n++ {
		f := func() int32 { return int32(rng.IntN(6)) }
		k := stageKey{predict.Key{T: f(), T8: f(), Bd: f(), Kd: f(), Kp: f(), Cp: f(), NumPrefills: f(), NumRequests: f(),
			NewRequests: f(), LogitSeqs: f(), PrefillAttn: attn[rng.IntN(len(attn))]}, f()}
		if rng.IntN(3) == 0 {
			k.k.T = rng.Int32() // a rarely repeated key
		}
		got, ok := m.get(&k, k.hash(), &ps)
		want, wok := ref[k]
		if ok != wok || got != want {
			t.Fatalf("key %+v: predMemo says %d, %t; the map %d, %t", k, got, ok, want, wok)
		}
		if !ok && len(ref) < 50_000 {
			i := ps.add(prediction{sk: k}, &predict.Breakdown{})
			ref[k] = i
			m.put(k.hash(), i)
		}
	}
	if m.n < 10_000 {
		t.Fatalf("only %d keys memoized: the test does not grow the table", m.n)
	}
}

// TestStageKeyHash_EveryField: keys that differ in one field only (each
// integer field of predict.Key, the stage, PrefillAttn) hash apart, so no
// field is left out of the mix (a missing one makes such keys probe as
// collisions).
func TestStageKeyHash_EveryField(t *testing.T) {
	base := stageKey{k: predict.Key{T: 64, T8: 64, Bd: 64, Kd: 1024, KdMax: 1536, NumRequests: 64, LogitSeqs: 64}}
	seen := map[uint64]string{base.hash(): "base"}
	v := reflect.ValueOf(&base.k).Elem()
	for i := 0; i < v.NumField(); i++ {
		k := base
		f := reflect.ValueOf(&k.k).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int32:
			f.SetInt(f.Int() + 16)
		case reflect.Float64:
			f.SetFloat(f.Float() + 0.5)
		default:
			t.Fatalf("predict.Key.%s: kind %s not covered", v.Type().Field(i).Name, f.Kind())
		}
		name := v.Type().Field(i).Name
		if o, ok := seen[k.hash()]; ok {
			t.Errorf("%s changed: same hash as %s", name, o)
		}
		seen[k.hash()] = name
	}
	k := base
	k.s = 1
	if _, ok := seen[k.hash()]; ok {
		t.Error("stage changed: same hash")
	}
}

// TestStageKeyEq_SameAsEqual: eq answers as == does, on keys that differ
// in one field only (each field of predict.Key, and the stage: a field
// added to the key and left out of eq fails here) and on random pairs
// from small fields, ±0 and NaN included.
func TestStageKeyEq_SameAsEqual(t *testing.T) {
	base := stageKey{k: predict.Key{T: 64, T8: 64, Bd: 64, Kd: 1024, KdMax: 1536, NumRequests: 64, LogitSeqs: 64, PrefillAttn: 0.25}}
	v := reflect.ValueOf(&base.k).Elem()
	for i := 0; i < v.NumField(); i++ {
		k := base
		f := reflect.ValueOf(&k.k).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int32:
			f.SetInt(f.Int() + 1)
		case reflect.Float64:
			f.SetFloat(f.Float() + 0.5)
		default:
			t.Fatalf("predict.Key.%s: kind %s not covered", v.Type().Field(i).Name, f.Kind())
		}
		if k.eq(&base) || base.eq(&k) {
			t.Errorf("%s differs, eq says equal", v.Type().Field(i).Name)
		}
	}
	k := base
	if k.s = 1; k.eq(&base) {
		t.Error("the stage differs, eq says equal")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	attn := []float64{0, math.Copysign(0, -1), 0.5, math.NaN()}
	r := func() stageKey {
		f := func() int32 { return int32(rng.IntN(2)) }
		return stageKey{predict.Key{T: f(), T8: f(), Bd: f(), Kd: f(), KdMax: f(), Kp: f(), Cp: f(), NumPrefills: f(), NumRequests: f(),
			NewRequests: f(), LogitSeqs: f(), PrefillAttn: attn[rng.IntN(len(attn))]}, f()}
	}
	for n := 0; n < 100_000; n++ {
		a, b := r(), r()
		if rng.IntN(2) == 0 {
			b = a
		}
		if got, want := a.eq(&b), a == b; got != want {
			t.Fatalf("%+v, %+v: eq %t, == %t", a, b, got, want)
		}
	}
}
