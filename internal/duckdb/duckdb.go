// Package duckdb runs one DuckDB query for tests, through scripts/duckdb.sh (DuckDB's own
// library from the npm package @duckdb/node-api, run with node, installed into .cache/
// the first time). A missing node or npm is an error naming what to install: the tests
// that read files back with DuckDB fail then, they are never skipped.
package duckdb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ddbtape/ddbtape/internal/testproc"
)

// Query runs sql and returns its rows, each a JSON object of column to value.
func Query(ctx context.Context, sql string) ([]map[string]any, error) {
	root, err := testproc.RepoRoot("duckdb.sh")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "duckdb.sh"), "query", sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("duckdb %q: %v: %s", sql, err, strings.TrimSpace(stderr.String()))
	}
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return nil, fmt.Errorf("duckdb row %q: %w", line, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Quote is s as a SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
