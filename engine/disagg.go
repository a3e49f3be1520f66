package engine

import (
	"fmt"
	"math"

	"github.com/servesim/servesim/engine/predict"
)

// --- Prefill/decode disaggregation ----------------------------------------------
//
// With cluster.prefill_replicas = P > 0, replicas 0..P-1 form the prefill
// pool (tensor parallel replica.tensor_parallel_size) and the other
// num_replicas - P the decode pool (tensor parallel
// cluster.decode_tensor_parallel_size, 0: the same; its own memory plan and
// profile lookups). Both run the replica scheduler (sarathi or vllm_v1).
//   - The router (cluster.global_scheduler) sends arrivals to the prefill
//     pool only.
//   - A request's prefill runs on its prefill replica; the step that
//     completes it produces no token there (vLLM's P/D: the decode side
//     produces the first token). Its KV, prompt tokens x the model's KV bytes
//     per token (2 x 2 bytes x kv heads x head_dim x layers, all shards),
//     then moves to a decode replica over the link: bytes / bandwidth
//     (cluster.kv_transfer_link presets, or cluster.kv_transfer_gbps);
//     transfers do not contend. The prefill replica holds the blocks until
//     the transfer ends.
//   - At the transfer's end the request goes to the decode replica with the
//     fewest queued tokens (routing.go), where it is admitted, in arrival
//     order of transfers, when its context's blocks fit above the watermark
//     and the batch cap allows; then it decodes all its output tokens there.
//     So TTFT = prefill queueing + prefill + transfer + decode admission +
//     the first decode step. A request preempted on the decode replica
//     re-prefills there (recompute).

// KV link presets (cluster.kv_transfer_link), in GB/s (1e9 bytes/s) per
// direction.
var KVLinks = map[string]float64{
	"nvlink": 450, // NVLink 4 (H100/H200): 900 GB/s both directions, 450 each
	"pcie":   64,  // PCIe 5.0 x16: 32 GT/s x 16 lanes, ~63 GB/s each direction
	"rdma":   50,  // one 400 Gb/s InfiniBand NDR / RoCE NIC
}

// KVLinkNames lists the presets in order.
var KVLinkNames = []string{"nvlink", "pcie", "rdma"}

// DefaultKVLink is the link when none is named.
const DefaultKVLink = "nvlink"

// KVLinkGBps is the link bandwidth a config uses, in GB/s.
func (c ClusterConfig) KVLinkGBps() float64 {
	if c.KVTransferGBps > 0 {
		return c.KVTransferGBps
	}
	if c.KVTransferLink == "" {
		return KVLinks[DefaultKVLink]
	}
	return KVLinks[c.KVTransferLink]
}

// disagg is a run's disaggregation state.
type disagg struct {
	decodeFrom  int // first decode replica
	bytesPerTok int64
	gbps        float64
	res         Resolved // the decode pool's memory plan
	pred        *predict.Predictor
	transfers   int64
	bytes       int64
	transferNs  int64
	maxNs       int64
}

// kvBytesPerToken is the KV of one token over every layer and shard.
func kvBytesPerToken(r Resolved) int64 {
	m := r.Model
	return 2 * 2 * int64(m.NumKVHeads) * int64(m.HeadDim) * int64(m.NumLayers)
}

// newDisagg resolves the decode pool (its TP) and its predictor.
func newDisagg(cfg Config, in Inputs) (*disagg, error) {
	dc := cfg
	if tp := cfg.Cluster.DecodeTensorParallelSize; tp > 0 {
		dc.Replica.TensorParallelSize = tp
	}
	dc.Cluster.PrefillReplicas = 0
	res, err := dc.Resolve()
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("decode pool (tensor_parallel_size %d): %w", dc.Replica.TensorParallelSize, err)}
	}
	pred, _, err := newPredictor(dc, res, in)
	if err != nil {
		return nil, fmt.Errorf("decode pool: %w", err)
	}
	return &disagg{decodeFrom: cfg.Cluster.PrefillReplicas, bytesPerTok: kvBytesPerToken(res), gbps: cfg.Cluster.KVLinkGBps(), res: res, pred: pred}, nil
}

// handoff starts moving r's KV to the decode pool: its prefill completed on
// rp in the step that ends at end.
func (s *sim) handoff(rp *replica, r *request, end int64) {
	d := s.disagg
	r.leaving = true
	rp.load -= r.work() // its output tokens are the decode replica's
	bytes := int64(r.processed) * d.bytesPerTok
	ns := int64(math.Ceil(float64(bytes) / d.gbps)) // GB/s = bytes/ns
	r.transferNs = ns
	d.transfers++
	d.bytes += bytes
	d.transferNs += ns
	d.maxNs = max(d.maxNs, ns)
	if s.holding {
		s.held++ // stamped starts it at the step's stamp
		return
	}
	s.push(event{at: end + ns, kind: evTransfer, replica: int32(rp.id), req: int32(r.id)})
}

// transferDone frees r's blocks on its prefill replica and queues it for
// admission on the least loaded decode replica.
func (s *sim) transferDone(rp *replica, r *request) {
	rp.free(r)
	r.leaving = false
	r.mark = 0 // vllm_v1's step marks are per replica
	r.prefillReplica = rp.id
	k, low := -1, int64(math.MaxInt64)
	for i := s.disagg.decodeFrom; i < len(s.replicas); i++ {
		if l := s.replicas[i].load; l < low {
			k, low = i, l
		}
	}
	dr := s.replicas[k]
	r.replica = k
	dr.load += r.work()
	dr.incoming.pushBack(r)
	s.push(event{at: s.now, kind: evReplicaSchedule, replica: int32(rp.id)})
	s.push(event{at: s.now, kind: evReplicaSchedule, replica: int32(k)})
}

// admitTransfers admits transferred requests, in order, while their
// context's blocks fit above the watermark and the batch cap allows.
func (rp *replica) admitTransfers() {
	for rp.incoming.len() > 0 {
		r := rp.incoming.front()
		need := ceilDiv(r.processed, rp.cfg.BlockSize)
		if rp.numBlocks-rp.allocated-need < rp.res.WatermarkBlocks || rp.numAllocated >= rp.cfg.BatchSizeCap {
			return
		}
		rp.incoming.popFront()
		rp.allocate(r, need)
		rp.admissions++
		r.admitted = rp.admissions
		rp.running.pushBack(r)
	}
}

// DisaggStats are a disaggregated run's transfer totals.
type DisaggStats struct {
	DecodeFrom       int      `json:"first_decode_replica"`
	Decode           Resolved `json:"-"`
	KVBytesPerToken  int64    `json:"kv_bytes_per_token"`
	LinkGBps         float64  `json:"link_gbps"`
	Transfers        int64    `json:"transfers"`
	Bytes            int64    `json:"bytes"`
	TotalTransferNs  int64    `json:"total_transfer_ns"`
	MaxTransferNs    int64    `json:"max_transfer_ns"`
	DecodeNumBlocks  int      `json:"decode_num_blocks"`
	PrefillNumBlocks int      `json:"prefill_num_blocks"`
}
