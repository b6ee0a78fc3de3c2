// Package bench holds end-to-end benchmarks that need a real DynamoDB Local: each starts
// a fresh instance with one stream-enabled table (see DESIGN.md on DynamoDB Local's
// limits) and compares ddbtape with a bare baseline on the same instance. They run only
// with -bench; scripts/bench.sh runs them and records the results.
package bench
