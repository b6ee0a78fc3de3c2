package replicator

import "github.com/ddbtape/ddbtape/metrics"

// callObserver passes a shard reader's calls and retries to the metrics recorder.
type callObserver struct {
	table, shard string
	rec          metrics.Recorder
}

func (o callObserver) Call(op string) {
	if op == "GetRecords" {
		o.rec.GetRecordsCall(o.table, o.shard)
	}
}

func (o callObserver) Retry(op string, throttled bool) {
	if throttled {
		o.rec.Throttled(o.table, op)
	}
	o.rec.Retried(o.table, op)
}

func (o callObserver) GaveUp(op string) { o.rec.RetriesExhausted(o.table, op) }
