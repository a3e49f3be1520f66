package predict

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/model"
)

// Options configure a Predictor. Field names follow Vidur's
// execution_time_predictor_config where one exists.
type Options struct {
	Model model.Model
	Node  model.Node
	TP    int // tensor_parallel_size
	PP    int // num_pipeline_stages
	// HeadDim is the attention head size used to match attention.csv rows
	// that carry a head_dim column (servesim extension).
	HeadDim                          int
	KVCachePredictionGranularity     int     // 64
	AttentionDecodeBatchingOverhead  float64 // 0.1 (GQA only)
	AttentionPrefillBatchingOverhead float64 // 0.1 (GQA only)
	NCCLCPULaunchOverheadMs          float64 // 0.02
	NCCLCPUSkewOverheadPerDeviceMs   float64 // 0
	// CPUOverhead adds the set's cpu_overheads.csv terms to every stage
	// (Vidur's skip_cpu_overhead_modeling = false).
	CPUOverhead bool
	// HostOverheads loads the set's host_overheads.csv (Host answers from
	// it): the engine timing model's host time per step.
	HostOverheads bool
	// LMHead charges the logits GEMM (mlp.csv column time_stats.lm_head,
	// servesim extension) once per iteration, keyed by the number of
	// sequences that need logits; Embedding charges time_stats.emb keyed
	// by the batch's tokens. Both are off in Vidur.
	LMHead, Embedding bool
	// Extrapolate allows keys outside the profiled grids (linear beyond the
	// last points, flat below the first). Each use is counted.
	Extrapolate bool
	// DecodeContextMax keys decode attention by the longest context in the
	// batch instead of Vidur's mean: right for servers that pad every
	// sequence's keys to the longest (servesim's real-bench loop).
	DecodeContextMax bool
	// DecodeShape keys decode-graph steps by their longest context too, for
	// a set whose engine.json has decode_launch (engine timing).
	DecodeShape bool
}

// Prefill is one prefill member of a batch.
type Prefill struct {
	Chunk     int // tokens of this request in the batch
	Processed int // tokens already processed (cached KV)
}

// Batch is what the predictor needs to know about one iteration.
type Batch struct {
	NumRequests      int
	Tokens           int   // total tokens in the batch (T)
	NumDecodes       int   // members whose prefill was complete
	DecodeContextSum int64 // sum of num_processed_tokens over decode members
	DecodeContextMax int   // longest num_processed_tokens among decode members
	Prefills         []Prefill
	NewRequests      int // members starting their first prefill chunk (admission overhead)
	LogitSeqs        int // sequences producing a token this iteration (LM head)
}

// Key is the batch reduced to Vidur's lookup keys (§6.2-6.3).
type Key struct {
	T, T8       int32 // tokens, rounded up to 8
	Bd, Kd      int32 // decode batch size and ceil_to(int(mean context), g)
	KdMax       int32 // ceil_to(longest context, g) with Options.DecodeShape and decode_launch; else 0
	Kp, Cp      int32 // summed prefill KV and round(sqrt(sum chunk^2))
	NumPrefills int32
	NumRequests int32
	NewRequests int32
	LogitSeqs   int32
	// PrefillAttn is, for a set whose engine.json has prefill_launch and a
	// batch of several prefills, their prefill attention (ms per layer)
	// from each prefill's own row (EngineSpec.PrefillLaunch); -1 if a row
	// was out of the grid; 0 otherwise.
	PrefillAttn float64
}

// Breakdown is a predicted stage time by term. Per-layer terms are in ms per
// layer (TPComm per all-reduce; it is charged twice per layer); per-stage
// terms in ms per stage.
type Breakdown struct {
	Layers                                    int
	InputLN, PreProj, Rope, KVSave            float64
	AttnDecode, AttnPrefill, PostProj         float64
	PostLN, UpProj, Act, DownProj, Add        float64
	TPComm                                    float64
	PPComm, Embedding, LMHead, CPU, Admission float64
}

// BlockMs is one layer's time (Vidur §6.1).
func (b Breakdown) BlockMs() float64 {
	attn := b.PreProj + b.PostProj + b.Rope + b.KVSave + b.AttnDecode + b.AttnPrefill + b.InputLN + b.TPComm
	mlp := b.UpProj + b.DownProj + b.Act + b.PostLN + b.TPComm
	return attn + mlp + b.Add
}

// ModelMs is the stage's GPU time.
func (b Breakdown) ModelMs() float64 {
	return b.BlockMs()*float64(b.Layers) + b.PPComm + b.Embedding + b.LMHead
}

// scaledGPU is b with every GPU term (all but CPU and Admission) times f.
func (b Breakdown) scaledGPU(f float64) Breakdown {
	for _, v := range []*float64{&b.InputLN, &b.PreProj, &b.Rope, &b.KVSave, &b.AttnDecode, &b.AttnPrefill, &b.PostProj,
		&b.PostLN, &b.UpProj, &b.Act, &b.DownProj, &b.Add, &b.TPComm, &b.PPComm, &b.Embedding, &b.LMHead} {
		*v *= f
	}
	return b
}

// TotalMs is the stage's duration including CPU overhead.
func (b Breakdown) TotalMs() float64 { return b.ModelMs() + b.CPU + b.Admission }

// TermNames name the terms of Breakdown.Terms (batch_metrics.csv's
// per-term columns, without the _ns suffix).
var TermNames = [NumTerms]string{"input_layernorm", "attn_pre_proj", "attn_rope", "attn_kv_cache_save", "attn_decode", "attn_prefill",
	"attn_post_proj", "post_attention_layernorm", "mlp_up_proj", "mlp_act", "mlp_down_proj", "add", "tp_all_reduce",
	"pp_send_recv", "embedding", "lm_head", "cpu_overhead", "admission"}

// NumTerms is the number of terms in Breakdown.Terms.
const NumTerms = 18

// Terms lists the stage's time by term (TermNames), in ms for the stage:
// per-layer terms multiplied by Layers, the all-reduce counted twice (after
// attention and after the MLP).
func (b Breakdown) Terms() [NumTerms]float64 {
	l := float64(b.Layers)
	return [NumTerms]float64{b.InputLN * l, b.PreProj * l, b.Rope * l, b.KVSave * l, b.AttnDecode * l, b.AttnPrefill * l,
		b.PostProj * l, b.PostLN * l, b.UpProj * l, b.Act * l, b.DownProj * l, b.Add * l, 2 * b.TPComm * l,
		b.PPComm, b.Embedding, b.LMHead, b.CPU, b.Admission}
}

// Nanos converts ms to integer ns, rounding to nearest.
func Nanos(ms float64) int64 { return int64(math.Round(ms * 1e6)) }

// GridError says a lookup fell outside a profiled grid.
type GridError struct {
	File, Op, At, Profiled string
}

func (e *GridError) Error() string {
	return fmt.Sprintf("%s: %s is not profiled at %s (profiled: %s); extend the profile or enable predictor extrapolation", e.File, e.Op, e.At, e.Profiled)
}

// tokenOps are the mlp.csv terms keyed by T8.
type tokenOps struct {
	inputLN, preProj, rope, postProj, postLN, up, act, down, add, tp, pp, emb float64
}

// scaled is o with mlp.csv's ops (not the network's) multiplied by f.
func (o tokenOps) scaled(f float64) *tokenOps {
	for _, v := range []*float64{&o.inputLN, &o.preProj, &o.rope, &o.postProj, &o.postLN, &o.up, &o.act, &o.down, &o.add, &o.emb} {
		*v *= f
	}
	return &o
}

// Predictor predicts stage times. It memoizes every lookup; it is not safe
// for concurrent use.
type Predictor struct {
	*tables
	opt                     Options
	origin                  string
	layersPerStage          int
	allReduce, sendRecv     curve
	tokenMemo               []*tokenOps
	kvMemo                  []float64
	decodeMemo, prefillMemo u64Memo
	// wavesMemo and wavesLaunchMemo memoize the wave model: one prefill by
	// chunk<<32 | cached KV, a launch of several by prefillWavesKey.
	wavesMemo       map[uint64]wavesAlone
	wavesLaunchMemo map[string]float64
	wavesSim        waveSim
	wavesOne        [1]Prefill
	wavesLaunch     []Prefill
	wavesKey        []byte
	// prefillLaunch is the set's engine.json prefill_launch (nil if none).
	prefillLaunch *PrefillLaunch
	// decodeLaunch is its decode_launch (nil if none); decodeShapeMemo
	// memoizes the model's decode attention by (Bd, Kd, KdMax, graph size).
	decodeLaunch    *DecodeLaunch
	decodeShapeMemo map[[4]int32]float64
	decodeRefMemo   map[[2]int32]float64
	decodeLens      []int
	// mixedMemo memoizes mixedDecodeAttn by (bound, its grids' indexes
	// lo and hi, the step's prefill tokens where the two differ (else 0),
	// Bd, Kd, KdMax).
	mixedMemo map[[7]int32]float64
	// mixedWaves memoizes the decode launch model's times that
	// mixedDecodeAttn corrects by, by their own inputs (sequence bound,
	// decodes, rounded mean and longest context; -1: the rows' spread),
	// which repeat far more often than mixedMemo's keys.
	mixedWaves map[[4]int32]float64
	// decodeGran is the set's engine.json decode_context_granularity (0:
	// none).
	decodeGran int
	// decodeMinKV is the smallest context every decode row is profiled at.
	decodeMinKV int32
	logitMemo   u64Memo
	cpuMemo     u64Memo
	hostMemo    map[uint64]float64
	// Extrapolated counts lookups answered outside the profiled grids.
	Extrapolated int
}

// tables are the interpolation tables read from a profile set's CSVs;
// read-only once loaded, so runs (also concurrent ones) share them.
type tables struct {
	mlp             map[string]curve
	decode, prefill grid
	// prefillRatio is the prefill grid over the wave model at its points
	// (built when the set's engine.json has the wave model).
	prefillRatio grid
	kvSave       curve
	cpu          map[string]curve
	host         map[string]curve // host_overheads.csv by column
	// mixedDecode is engine.json's mixed_decode: per sequence bound its
	// grids by min_tokens ascending (nil if the set has none).
	mixedDecode map[int][]mixedGrid
}

var mlpOps = []string{"input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
	"mlp_up_proj", "mlp_act", "mlp_down_proj", "add"}

// CPUColumns are cpu_overheads.csv's timing columns (Vidur §6.5). admit_median
// is a servesim extension: ms per request admitted into its first prefill
// chunk (absent means 0).
var CPUColumns = []string{"schedule_median", "sampler_e2e_median", "prepare_inputs_e2e_median", "process_model_outputs_median", "ray_comm_time_mean"}

const admitColumn = "admit_median"

// New loads the profiles a run needs and validates them. network is the root
// holding one folder per node (all_reduce.csv, send_recv.csv); it may be nil
// when TP = PP = 1.
func New(set *Set, network fs.FS, opt Options) (*Predictor, error) {
	m := opt.Model
	if opt.TP < 1 || opt.PP < 1 {
		return nil, fmt.Errorf("predictor: tensor_parallel_size and num_pipeline_stages must be >= 1, got %d and %d", opt.TP, opt.PP)
	}
	if m.NumLayers%opt.PP != 0 {
		return nil, fmt.Errorf("predictor: num_pipeline_stages %d must divide num_layers %d", opt.PP, m.NumLayers)
	}
	if opt.KVCachePredictionGranularity < 1 {
		return nil, fmt.Errorf("predictor: kv_cache_prediction_granularity must be >= 1, got %d", opt.KVCachePredictionGranularity)
	}
	p := &Predictor{opt: opt, origin: set.Origin, layersPerStage: m.NumLayers / opt.PP, prefillLaunch: set.Engine.LaunchOrNil(), decodeLaunch: set.Engine.DecodeLaunchOrNil(), decodeGran: set.Engine.DecodeGranularity(), decodeShapeMemo: map[[4]int32]float64{}, decodeRefMemo: map[[2]int32]float64{},
		wavesMemo: map[uint64]wavesAlone{}, wavesLaunchMemo: map[string]float64{}, hostMemo: map[uint64]float64{}}
	// The tables depend on the set and these options only; a set opened
	// once (a server's, the page's) parses its CSVs once.
	key := fmt.Sprintf("%+v|tp=%d|head_dim=%d|emb=%t|lm_head=%t|cpu=%t|host=%t", m, opt.TP, opt.HeadDim, opt.Embedding, opt.LMHead, opt.CPUOverhead, opt.HostOverheads)
	if t := set.cache.get(key); t != nil {
		p.tables = t
	} else {
		p.tables = &tables{}
		if err := p.loadMLP(set); err != nil {
			return nil, err
		}
		if err := p.loadAttention(set); err != nil {
			return nil, err
		}
		if opt.CPUOverhead {
			if err := p.loadCPU(set); err != nil {
				return nil, err
			}
		}
		if opt.HostOverheads {
			if err := p.loadHost(set); err != nil {
				return nil, err
			}
		}
		if m := set.Engine.MixedDecodeOrNil(); m != nil {
			p.tables.mixedDecode = mixedDecodeGrids(m)
		}
		set.cache.put(key, p.tables)
	}
	p.decodeMinKV = int32(p.decode.innerMin())
	if p.mixedDecode != nil {
		p.mixedMemo, p.mixedWaves = map[[7]int32]float64{}, map[[4]int32]float64{}
	}
	if opt.TP > 1 || opt.PP > 1 {
		if network == nil {
			return nil, errors.New("predictor: TP or PP > 1 needs network profiles")
		}
		if err := p.loadNetwork(network); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Predictor) loadMLP(set *Set) error {
	m := p.opt.Model
	gated := "False"
	if m.UseGatedMLP {
		gated = "True"
	}
	filter := rowFilter{{"n_head", itoa(m.NumQHeads)}, {"n_kv_head", itoa(m.NumKVHeads)}, {"n_embd", itoa(m.EmbeddingDim)},
		{"n_expanded_embd", itoa(m.MLPHiddenDim)}, {"vocab_size", itoa(m.VocabSize)}, {"use_gated_mlp", gated},
		{"num_tensor_parallel_workers", itoa(p.opt.TP)}}
	ops := []string{}
	for _, op := range mlpOps {
		if op == "post_attention_layernorm" && !m.PostAttnNorm || set.Engine.Fused(op) {
			continue
		}
		ops = append(ops, op)
	}
	if err := checkFused(set); err != nil {
		return err
	}
	if p.opt.Embedding {
		ops = append(ops, "emb")
	}
	if p.opt.LMHead {
		ops = append(ops, "lm_head")
	}
	var req []string
	for _, op := range ops {
		req = append(req, median(op))
	}
	xs := []float64{}
	ys := make([][]float64, len(ops))
	err := scan(set.FS, set.Origin, mlpFile, filter, append(req, "num_tokens"), func(t *csvin.Table) error {
		n, err := t.IntAtLeast("num_tokens", 1)
		if err != nil {
			return err
		}
		xs = append(xs, float64(n))
		for i := range ops {
			v, err := t.PositiveFloat(req[i])
			if err != nil {
				return err
			}
			ys[i] = append(ys[i], v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.mlp = map[string]curve{}
	for i, op := range ops {
		p.mlp[op] = newCurve(xs, ys[i])
	}
	return nil
}

func (p *Predictor) loadAttention(set *Set) error {
	m := p.opt.Model
	filter := rowFilter{{"n_embd", itoa(m.EmbeddingDim)}, {"n_q_head", itoa(m.NumQHeads)}, {"n_kv_head", itoa(m.NumKVHeads)},
		{"num_tensor_parallel_workers", itoa(p.opt.TP)}}
	var dB, dK, dY, pC, pK, pY, sX, sY []float64
	t, closeFile, err := openTable(set.FS, set.Origin, attnFile)
	if err != nil {
		return err
	}
	defer closeFile()
	if t.Has("head_dim") && p.opt.HeadDim > 0 {
		filter = append(filter, rowFilter{{"head_dim", itoa(p.opt.HeadDim)}}...)
	}
	// The column names are made once, not per row (each made string is a
	// new one, which the table matches by content).
	decodeCol, prefillCol, saveCol := median("attn_decode"), median("attn_prefill"), median("attn_kv_cache_save")
	required := []string{"batch_size", "prefill_chunk_size", "kv_cache_size", decodeCol, prefillCol, saveCol}
	if err := t.Require(append(filter.cols(), required...)...); err != nil {
		return err
	}
	a, fast := attentionColumns(t, filter, decodeCol, prefillCol, saveCol)
	if fast {
		dB, dK, dY, pC, pK, pY, sX, sY = a.dB, a.dK, a.dY, a.pC, a.pK, a.pY, a.sX, a.sY
	} else {
		err = scanTable(t, filter, required, func(t *csvin.Table) error {
			b, err := t.IntAtLeast("batch_size", 1)
			if err != nil {
				return err
			}
			c, err := t.IntAtLeast("prefill_chunk_size", 0)
			if err != nil {
				return err
			}
			kv, err := t.IntAtLeast("kv_cache_size", 0)
			if err != nil {
				return err
			}
			save, err := t.PositiveFloat(saveCol)
			if err != nil {
				return err
			}
			sX, sY = append(sX, float64(max(b, c))), append(sY, save)
			if c == 0 {
				v, err := t.PositiveFloat(decodeCol)
				if err != nil {
					return err
				}
				dB, dK, dY = append(dB, float64(b)), append(dK, float64(kv)), append(dY, v)
				return nil
			}
			v, err := t.PositiveFloat(prefillCol)
			if err != nil {
				return err
			}
			pC, pK, pY = append(pC, float64(c)*float64(c)), append(pK, float64(kv)), append(pY, v)
			return nil
		})
	}
	if err != nil {
		return err
	}
	if len(dY) == 0 || len(pY) == 0 {
		return fmt.Errorf("%s: need both decode rows (prefill_chunk_size = 0) and prefill rows matching %s; found %d and %d",
			path.Join(set.Origin, attnFile), filter, len(dY), len(pY))
	}
	p.decode = newGrid(dB, dK, dY)
	p.prefill = newGrid(pC, pK, pY)
	if l := set.Engine.LaunchOrNil(); l.Waves() {
		ratio := make([]float64, len(pY))
		for i := range pY {
			ratio[i] = pY[i] / l.WavesMs([]Prefill{{Chunk: int(math.Round(math.Sqrt(pC[i]))), Processed: int(pK[i])}})
		}
		p.prefillRatio = newGrid(pC, pK, ratio)
	}
	p.kvSave = newCurve(sX, sY)
	return nil
}

// attnPoints are the attention table's points as loadAttention takes them.
type attnPoints struct{ dB, dK, dY, pC, pK, pY, sX, sY []float64 }

// attentionColumns takes the attention table's points from its columns at
// once (a packed table: csvin.Table.Numbers), ok only when the row scan
// would take every row and find no error: every filter column holds one
// matching value, and every cell it reads is valid (an integer batch size
// >= 1, chunk and context >= 0, times in (0, csvin.MaxTimingMs]). The
// points are the scan's, in its order; anything else goes through the scan,
// which reports what is wrong where.
func attentionColumns(t *csvin.Table, filter rowFilter, decodeCol, prefillCol, saveCol string) (a attnPoints, ok bool) {
	for _, x := range filter {
		got, ok := t.Constant(x.col)
		if !ok || !sameValue(got, x.want) {
			return a, false
		}
	}
	var m [6][]uint64
	var tag [6][]uint8
	for i, col := range []string{"batch_size", "prefill_chunk_size", "kv_cache_size", saveCol, decodeCol, prefillCol} {
		if m[i], tag[i], ok = t.Numbers(col); !ok {
			return a, false
		}
	}
	rows := len(m[0])
	if rows == 0 {
		return a, false
	}
	a.sX, a.sY = make([]float64, rows), make([]float64, rows)
	for r := range rows {
		// Integers: no digits after the point (tag 1), as IntAtLeast.
		if tag[0][r] != 1 || tag[1][r] != 1 || tag[2][r] != 1 || m[0][r] < 1 {
			return attnPoints{}, false
		}
		b, c, kv := int64(m[0][r]), int64(m[1][r]), int64(m[2][r])
		save, ok := timing(m[3][r], tag[3][r])
		if !ok {
			return attnPoints{}, false
		}
		a.sX[r], a.sY[r] = float64(max(b, c)), save
		if c == 0 {
			v, ok := timing(m[4][r], tag[4][r])
			if !ok {
				return attnPoints{}, false
			}
			a.dB, a.dK, a.dY = append(a.dB, float64(b)), append(a.dK, float64(kv)), append(a.dY, v)
			continue
		}
		v, ok := timing(m[5][r], tag[5][r])
		if !ok {
			return attnPoints{}, false
		}
		a.pC, a.pK, a.pY = append(a.pC, float64(c)*float64(c)), append(a.pK, float64(kv)), append(a.pY, v)
	}
	return a, true
}

// timing is a packed number cell as PositiveFloat takes it: ok for a
// value in (0, csvin.MaxTimingMs].
func timing(m uint64, tag uint8) (float64, bool) {
	if tag == 0 || tag > 23 { // empty, or text (csvin.Table.Numbers)
		return 0, false
	}
	v := csvin.NumberValue(m, tag)
	return v, v > 0 && v <= csvin.MaxTimingMs
}

func (p *Predictor) loadCPU(set *Set) error {
	if !set.HasCPUOverheads() {
		return fmt.Errorf("profile set %s has no %s; CPU-overhead modelling needs one", set.Origin, cpuFile)
	}
	filter := rowFilter{{"model_name", p.opt.Model.Name}, {"tensor_parallel_degree", itoa(p.opt.TP)}}
	var xs []float64
	ys := map[string][]float64{}
	hasAdmit := false
	err := scan(set.FS, set.Origin, cpuFile, filter, append([]string{"batch_size"}, CPUColumns...), func(t *csvin.Table) error {
		b, err := t.IntAtLeast("batch_size", 1)
		if err != nil {
			return err
		}
		xs = append(xs, float64(b))
		hasAdmit = t.Has(admitColumn)
		cols := CPUColumns
		if hasAdmit {
			cols = append(cols[:len(cols):len(cols)], admitColumn)
		}
		for _, c := range cols {
			v, err := t.NonNegFloat(c)
			if err != nil {
				return err
			}
			ys[c] = append(ys[c], v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.cpu = map[string]curve{}
	for c, y := range ys {
		p.cpu[c] = newCurve(xs, y)
	}
	return nil
}

func (p *Predictor) loadNetwork(network fs.FS) error {
	node := p.opt.Node
	e := float64(p.opt.Model.EmbeddingDim)
	load := func(file, collective string, workers, dpn int) (curve, error) {
		var xs, ys []float64
		name := path.Join(node.Name, file)
		filter := rowFilter{{"collective", collective}, {"num_workers", itoa(workers)}, {"devices_per_node", itoa(dpn)}}
		col := median(collective)
		err := scan(network, "network", name, filter, []string{"size", col}, func(t *csvin.Table) error {
			size, err := t.IntAtLeast("size", 1)
			if err != nil {
				return err
			}
			v, err := t.PositiveFloat(col)
			if err != nil {
				return err
			}
			xs, ys = append(xs, float64(size)/e/2), append(ys, v)
			return nil
		})
		return newCurve(xs, ys), err
	}
	var err error
	if p.opt.TP > 1 {
		if p.allReduce, err = load("all_reduce.csv", "all_reduce", p.opt.TP, p.opt.TP); err != nil {
			return err
		}
	}
	if p.opt.PP > 1 {
		total := p.opt.TP * p.opt.PP
		multi := total > node.DevicesPerNode
		if multi && total%node.DevicesPerNode != 0 {
			return fmt.Errorf("predictor: TP*PP = %d must be below or a multiple of %s's %d devices per node", total, node.Name, node.DevicesPerNode)
		}
		dpn := 2
		if multi {
			dpn = 1
		}
		if p.sendRecv, err = load("send_recv.csv", "send_recv", 2, dpn); err != nil {
			return err
		}
	}
	return nil
}

// KeyOf reduces a batch to Vidur's lookup keys.
func (p *Predictor) KeyOf(b Batch) Key {
	g := p.opt.KVCachePredictionGranularity
	k := Key{T: int32(b.Tokens), T8: int32(ceilTo(b.Tokens, 8)), Bd: int32(b.NumDecodes), NumPrefills: int32(len(b.Prefills)),
		NumRequests: int32(b.NumRequests), NewRequests: int32(b.NewRequests), LogitSeqs: int32(b.LogitSeqs)}
	if b.NumDecodes > 0 {
		gd := p.decodeGranularityAt(int(b.DecodeContextSum / int64(b.NumDecodes)))
		k.Kd = int32(ceilTo(int(b.DecodeContextSum/int64(b.NumDecodes)), gd))
		if p.opt.DecodeContextMax {
			k.Kd = int32(ceilTo(b.DecodeContextMax, gd))
		}
		if p.opt.DecodeShape && p.decodeGran > 0 {
			// a context under the rows' first is read there (EngineStage):
			// one key for all of them
			k.Kd = max(k.Kd, p.decodeMinKV)
		}
		if p.opt.DecodeShape && p.decodeLaunch != nil {
			k.KdMax = max(k.Kd, int32(ceilTo(b.DecodeContextMax, gd)))
		}
	}
	var sq int64
	kp := 0
	for _, pf := range b.Prefills {
		kp += ceilTo(pf.Processed, g)
		sq += int64(pf.Chunk) * int64(pf.Chunk)
	}
	k.Kp = int32(kp)
	if sq > 0 {
		k.Cp = int32(math.RoundToEven(math.Sqrt(float64(sq))))
	}
	switch {
	case len(b.Prefills) > 0 && p.prefillLaunch.Waves():
		k.PrefillAttn = p.prefillWaves(b.Prefills)
	case len(b.Prefills) > 1 && p.prefillLaunch != nil:
		k.PrefillAttn = p.prefillAttnPerSequence(b.Prefills)
	}
	return k
}

// prefillAttnPerSequence is the prefill attention of several prefills that
// the engine runs in one launch (EngineSpec.PrefillLaunch): the launch's
// fixed cost (the smallest profiled prefill's row) plus the larger of each
// prefill's own work (its row less the fixed cost) scaled by the share of
// the GPU its tiles fill alone and summed, and the longest prefill's own
// work. -1 if a row is out of the grid (EngineStage then reports it).
func (p *Predictor) prefillAttnPerSequence(pfs []Prefill) float64 {
	g := p.opt.KVCachePredictionGranularity
	l := p.prefillLaunch
	floor, err := p.attnPrefill(0, 1, 1)
	if err != nil {
		return -1
	}
	var sum, longest float64
	for _, pf := range pfs {
		v, err := p.attnPrefill(ceilTo(pf.Processed, g), pf.Chunk, 1)
		if err != nil {
			return -1
		}
		w := max(v-floor, 0)
		tiles := float64((pf.Chunk+l.QueryTile-1)/l.QueryTile*l.TilesPerQueryBlock) / float64(l.SMs)
		sum += w * min(1, tiles)
		longest = max(longest, w)
	}
	return floor + max(sum, longest)
}

// DecodeKeyRun is KeyOf of an all-decode batch (b has no prefills) and how
// many steps after it keep that key, a step adding one token to every
// decode's context (the batch's mean and largest context each one more):
// only Kd and KdMax can change, once the contexts they are rounded from
// pass them.
func (p *Predictor) DecodeKeyRun(b Batch) (Key, int) {
	k := p.KeyOf(b)
	if b.NumDecodes == 0 || len(b.Prefills) > 0 {
		return k, 0
	}
	x := int(b.DecodeContextSum / int64(b.NumDecodes))
	if p.opt.DecodeContextMax {
		x = b.DecodeContextMax
	}
	// A key's context stays while the context rounds up to it: up to the
	// key rounded down to the granularity, which is the key itself unless it
	// is the rows' first context (a context under it is read there), which
	// need not be a multiple of the granularity.
	gd := p.decodeGranularityAt(int(b.DecodeContextSum / int64(b.NumDecodes)))
	same := int(k.Kd)/gd*gd - x
	if k.KdMax > 0 {
		same = min(same, int(k.KdMax)/gd*gd-b.DecodeContextMax)
	}
	return k, max(same, 0)
}

// decodeGranularityAt is decodeGranularity for a batch of mean decode
// context mean: under engine timing with a set's own granularity, a mean
// under one step of the config's grid (Vidur's 64 keys) is read exactly,
// since there rounding up by the set's 16 keys would add a third to half of
// a 32-48-key context and the rows are 16 keys apart.
func (p *Predictor) decodeGranularityAt(mean int) int {
	if p.opt.DecodeShape && p.decodeGran > 0 && mean < p.opt.KVCachePredictionGranularity {
		return 1
	}
	return p.decodeGranularity()
}

// decodeGranularity is the granularity decode contexts are rounded up to:
// under engine timing (Options.DecodeShape) the set's
// decode_context_granularity where it has one, else the config's.
func (p *Predictor) decodeGranularity() int {
	if p.opt.DecodeShape && p.decodeGran > 0 {
		return p.decodeGran
	}
	return p.opt.KVCachePredictionGranularity
}

// prefillWaves is the prefill attention (ms per layer) of the prefills of a
// step under the wave model (PrefillLaunch.WavesMs over all of them, each at
// its cached KV rounded up to the granularity as the grid is read), scaled
// by the profiled grid's ratio to the model, each prefill's ratio weighted
// by its own modelled time. -1 if a prefill is out of the grid.
func (p *Predictor) prefillWaves(pfs []Prefill) float64 {
	g := p.opt.KVCachePredictionGranularity
	l := p.prefillLaunch
	alone := func(c, kv int) (float64, float64, bool) {
		key := uint64(c)<<32 | uint64(kv)
		if m, ok := p.wavesMemo[key]; ok {
			return m.t, m.r, m.ok
		}
		p.wavesOne[0] = Prefill{Chunk: c, Processed: kv}
		t := p.wavesSim.launchMs(l, p.wavesOne[:])
		r, err := p.gridLookup(p.prefillRatio, float64(c)*float64(c), float64(kv), "attn_prefill",
			at2("prefill_chunk_size=%d, kv_cache_size=%d", c, kv), "prefill_chunk_size", math.Sqrt)
		if len(p.wavesMemo) < maxWavesMemo {
			p.wavesMemo[key] = wavesAlone{t, r, err == nil}
		}
		return t, r, err == nil
	}
	if len(pfs) == 1 {
		t, r, ok := alone(pfs[0].Chunk, ceilTo(pfs[0].Processed, g))
		if !ok {
			return -1
		}
		return t * r
	}
	launch := p.wavesLaunch[:0]
	key := p.wavesKey[:0]
	var num, den float64
	for _, pf := range pfs {
		q := Prefill{Chunk: pf.Chunk, Processed: ceilTo(pf.Processed, g)}
		launch = append(launch, q)
		key = strconv.AppendInt(append(strconv.AppendInt(key, int64(q.Chunk), 10), ':'), int64(q.Processed), 10)
		key = append(key, ',')
		t, r, ok := alone(q.Chunk, q.Processed)
		if !ok {
			return -1
		}
		num, den = num+t*r, den+t
	}
	p.wavesLaunch, p.wavesKey = launch, key
	t, ok := p.wavesLaunchMemo[string(key)]
	if !ok {
		t = p.wavesSim.launchMs(l, launch)
		if len(p.wavesLaunchMemo) < maxWavesMemo {
			p.wavesLaunchMemo[string(key)] = t
		}
	}
	return t * num / den
}

// wavesAlone is one prefill's launch alone under the wave model and the
// grid's ratio to it (ok false: out of the grid).
type wavesAlone struct {
	t, r float64
	ok   bool
}

// decodeShape is the decode launch model's correction (ms per layer) to
// the decode row of a decode graph of size padded running k's decodes
// (DecodeLaunch.ShapeCorrection), at k's mean and longest context rounded
// up to the config's kv_cache_prediction_granularity: a difference of two
// simulated launches that changes slowly with context, simulated once per
// rounded shape while the row it corrects is read at the set's own
// decode_context_granularity.
func (p *Predictor) decodeShape(k Key, padded int) float64 {
	g := p.opt.KVCachePredictionGranularity
	kd := int32(ceilTo(int(k.Kd), g))
	mk := [4]int32{k.Bd, kd, max(kd, int32(ceilTo(int(k.KdMax), g))), int32(padded)}
	if v, ok := p.decodeShapeMemo[mk]; ok {
		return v
	}
	kdP := keysPerSlot(int(mk[0]), int(mk[1]), padded)
	p.decodeLens = ShapeLens(p.decodeLens, int(mk[0]), int(mk[1]), int(mk[2]))
	v := p.wavesSim.decodeMs(p.decodeLaunch, p.decodeLens, padded)
	rk := [2]int32{int32(padded), int32(kdP)}
	ref, ok := p.decodeRefMemo[rk]
	if !ok {
		ref = p.wavesSim.decodeMs(p.decodeLaunch, SpreadLens(padded, kdP), padded)
		if len(p.decodeRefMemo) < maxWavesMemo {
			p.decodeRefMemo[rk] = ref
		}
	}
	v -= ref
	if len(p.decodeShapeMemo) < maxWavesMemo {
		p.decodeShapeMemo[mk] = v
	}
	return v
}

// maxDecodeMemo bounds the decode rows' memo (read at exact contexts
// under a fine decode_context_granularity, a long run has many keys).
const maxDecodeMemo = 1 << 16

// maxWavesMemo bounds the wave model's memos.
const maxWavesMemo = 1 << 15

func ceilTo(x, g int) int { return (x + g - 1) / g * g }

// Stage predicts the time of one batch on pipeline stage s.
func (p *Predictor) Stage(k Key, s int) (Breakdown, error) {
	b := Breakdown{Layers: p.layersPerStage}
	ops, err := p.tokens(int(k.T8))
	if err != nil {
		return b, err
	}
	b.InputLN, b.PreProj, b.Rope, b.PostProj, b.PostLN = ops.inputLN, ops.preProj, ops.rope, ops.postProj, ops.postLN
	b.UpProj, b.Act, b.DownProj, b.Add, b.TPComm = ops.up, ops.act, ops.down, ops.add, ops.tp
	if b.KVSave, err = p.kv(int(k.T)); err != nil {
		return b, err
	}
	if b.AttnDecode, err = p.attnDecode(int(k.Bd), int(k.Kd), false); err != nil {
		return b, err
	}
	if b.AttnPrefill, err = p.attnPrefill(int(k.Kp), int(k.Cp), int(k.NumPrefills)); err != nil {
		return b, err
	}
	if s < p.opt.PP-1 {
		b.PPComm = ops.pp
	}
	if p.opt.Embedding && s == 0 {
		b.Embedding = ops.emb
	}
	if p.opt.LMHead && s == p.opt.PP-1 && k.LogitSeqs > 0 {
		if b.LMHead, err = p.logits(int(k.LogitSeqs)); err != nil {
			return b, err
		}
	}
	if p.opt.CPUOverhead {
		if b.CPU, b.Admission, err = p.cpuTerms(int(k.NumRequests), int(k.NewRequests)); err != nil {
			return b, err
		}
	}
	return b, nil
}

// atText is where a lookup is, as GridError.At says it: formatted only
// when a lookup fails, since the hot path looks up thousands of new keys.
type atText struct {
	f    string // a format with n %d verbs
	a, b int
	n    int8
}

func at1(f string, a int) atText    { return atText{f: f, a: a, n: 1} }
func at2(f string, a, b int) atText { return atText{f: f, a: a, b: b, n: 2} }

func (t atText) String() string {
	if t.n == 1 {
		return fmt.Sprintf(t.f, t.a)
	}
	return fmt.Sprintf(t.f, t.a, t.b)
}

func (p *Predictor) lookup(c curve, x float64, file, op string, at atText) (float64, error) {
	v, ok := c.at(x, false)
	if ok {
		return v, nil
	}
	if p.opt.Extrapolate {
		v, _ = c.at(x, true)
		p.Extrapolated++
		return v, nil
	}
	return 0, &GridError{File: path.Join(p.origin, file), Op: op, At: at.String(), Profiled: c.rangeString()}
}

func (p *Predictor) tokens(t8 int) (*tokenOps, error) {
	if t8 < len(p.tokenMemo) && p.tokenMemo[t8] != nil {
		return p.tokenMemo[t8], nil
	}
	x := float64(t8)
	at := at1("num_tokens=%d", t8)
	get := func(op string) (float64, error) {
		c, ok := p.mlp[op]
		if !ok {
			return 0, nil
		}
		return p.lookup(c, x, mlpFile, op, at)
	}
	var o tokenOps
	for _, f := range []struct {
		dst *float64
		op  string
	}{{&o.inputLN, "input_layernorm"}, {&o.preProj, "attn_pre_proj"}, {&o.rope, "attn_rope"}, {&o.postProj, "attn_post_proj"},
		{&o.postLN, "post_attention_layernorm"}, {&o.up, "mlp_up_proj"}, {&o.act, "mlp_act"}, {&o.down, "mlp_down_proj"},
		{&o.add, "add"}, {&o.emb, "emb"}} {
		v, err := get(f.op)
		if err != nil {
			// the ops share the key: the first one out of range says it
			return nil, err
		}
		*f.dst = v
	}
	if p.opt.TP > 1 {
		v, err := p.lookup(p.allReduce, x, path.Join(p.opt.Node.Name, "all_reduce.csv"), "all_reduce", at)
		if err != nil {
			return nil, err
		}
		o.tp = v + p.opt.NCCLCPULaunchOverheadMs + p.opt.NCCLCPUSkewOverheadPerDeviceMs*math.Pow(float64(p.opt.TP), 1.25)
	}
	if p.opt.PP > 1 {
		v, err := p.lookup(p.sendRecv, x, path.Join(p.opt.Node.Name, "send_recv.csv"), "send_recv", at)
		if err != nil {
			return nil, err
		}
		o.pp = v
	}
	for len(p.tokenMemo) <= t8 {
		p.tokenMemo = append(p.tokenMemo, nil)
	}
	p.tokenMemo[t8] = &o
	return &o, nil
}

func (p *Predictor) kv(t int) (float64, error) {
	if t < len(p.kvMemo) && p.kvMemo[t] > 0 {
		return p.kvMemo[t], nil
	}
	v, err := p.lookup(p.kvSave, float64(t), attnFile, "attn_kv_cache_save", at1("num_tokens=%d", t))
	if err != nil {
		return 0, err
	}
	for len(p.kvMemo) <= t {
		p.kvMemo = append(p.kvMemo, 0)
	}
	p.kvMemo[t] = v
	return v, nil
}

func (p *Predictor) gridLookup(g grid, o, i float64, op string, at atText, outerName string, outerFn func(float64) float64) (float64, error) {
	return p.gridLookupIn(attnFile, "kv_cache_size", g, o, i, op, at, outerName, outerFn, pastNone)
}

// How a grid lookup may read past its rows' ends (grid.atPast), each such
// read counted in Extrapolated.
type pastRule uint8

const (
	pastNone      pastRule = iota // refuse (unless Options.Extrapolate)
	pastBudgetCut                 // rows ended by a token budget (decode attention: decodes x context within the measuring pool)
	pastAny                       // any row: the key is an aggregate of several sequences (Vidur's batched prefill)
)

// gridLookupIn is gridLookup for a grid read from file, whose inner key is
// innerName; past says whether a key past a row's end is read extrapolated
// (grid.atPast) and counted in Extrapolated rather than refused.
func (p *Predictor) gridLookupIn(file, innerName string, g grid, o, i float64, op string, at atText, outerName string, outerFn func(float64) float64, past pastRule) (float64, error) {
	v, ok := g.at(o, i, false)
	if ok {
		return v, nil
	}
	if past != pastNone {
		if v, ok := g.atPast(o, i, past == pastBudgetCut); ok {
			p.Extrapolated++
			return v, nil
		}
	}
	if p.opt.Extrapolate {
		v, _ = g.at(o, i, true)
		p.Extrapolated++
		return v, nil
	}
	return 0, &GridError{File: path.Join(p.origin, file), Op: op, At: at.String(), Profiled: g.rangeString(outerName, innerName, outerFn, o)}
}

// attnDecode is decode attention at bd sequences of mean context kd, with
// Vidur's GQA batching overhead added unless the profile's rows time the
// batched launch itself (batched).
func (p *Predictor) attnDecode(bd, kd int, batched bool) (float64, error) {
	if bd == 0 {
		return 0, nil
	}
	key := uint64(bd)<<32 | uint64(kd)<<1
	if batched {
		key |= 1
	}
	if v, ok := p.decodeMemo.get(key); ok {
		return v, nil
	}
	v, err := p.gridLookupIn(attnFile, "kv_cache_size", p.decode, float64(bd), float64(kd), "attn_decode",
		at2("batch_size=%d, kv_cache_size=%d", bd, kd), "batch_size", func(x float64) float64 { return x }, pastBudgetCut)
	if err != nil {
		return 0, err
	}
	if p.opt.Model.GQA() && bd > 1 && !batched {
		v *= 1 + p.opt.AttentionDecodeBatchingOverhead
	}
	if p.decodeMemo.len() < maxDecodeMemo {
		p.decodeMemo.put(key, v)
	}
	return v, nil
}

func (p *Predictor) attnPrefill(kp, cp, n int) (float64, error) {
	if n == 0 {
		return 0, nil
	}
	key := uint64(kp)<<33 | uint64(cp)<<1
	if n > 1 {
		key |= 1
	}
	if v, ok := p.prefillMemo.get(key); ok {
		return v, nil
	}
	past := pastNone
	if n > 1 {
		past = pastAny
	}
	v, err := p.gridLookupIn(attnFile, "kv_cache_size", p.prefill, float64(cp)*float64(cp), float64(kp), "attn_prefill",
		at2("prefill_chunk_size=%d, kv_cache_size=%d", cp, kp), "prefill_chunk_size", math.Sqrt, past)
	if err != nil {
		return 0, err
	}
	if p.opt.Model.GQA() && n > 1 {
		v *= 1 + p.opt.AttentionPrefillBatchingOverhead
	}
	p.prefillMemo.put(key, v)
	return v, nil
}

func (p *Predictor) logits(n int) (float64, error) {
	if v, ok := p.logitMemo.get(uint64(n)); ok {
		return v, nil
	}
	v, err := p.lookup(p.mlp["lm_head"], float64(n), mlpFile, "lm_head", at1("num_tokens=%d", n))
	if err != nil {
		return 0, err
	}
	p.logitMemo.put(uint64(n), v)
	return v, nil
}

func (p *Predictor) cpuTerms(batch, admitted int) (cpu, admit float64, err error) {
	key := uint64(batch)<<32 | uint64(admitted)
	if v, ok := p.cpuMemo.get(key); ok {
		a, _ := p.cpuMemo.get(key | 1<<63)
		return v, a, nil
	}
	at := at1("batch_size=%d", batch)
	for _, c := range CPUColumns {
		v, err := p.lookup(p.cpu[c], float64(batch), cpuFile, c, at)
		if err != nil {
			return 0, 0, err
		}
		cpu += v
	}
	if c, ok := p.cpu[admitColumn]; ok && admitted > 0 {
		v, err := p.lookup(c, float64(batch), cpuFile, admitColumn, at)
		if err != nil {
			return 0, 0, err
		}
		admit = v * float64(admitted)
	}
	p.cpuMemo.put(key, cpu)
	p.cpuMemo.put(key|1<<63, admit)
	return cpu, admit, nil
}
