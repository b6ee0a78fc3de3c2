package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// buildDdbtape builds the CLI into a temporary directory.
func buildDdbtape(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "ddbtape")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ddbtape/ddbtape/cmd/ddbtape").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var maxRSS = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// timed runs a command under /usr/bin/time -v and returns its wall time and peak RSS.
func timed(b *testing.B, env []string, name string, args ...string) (time.Duration, float64) {
	b.Helper()
	cmd := exec.CommandContext(context.Background(), "/usr/bin/time", append([]string{"-v", name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	wall := time.Since(began)
	m := maxRSS.FindStringSubmatch(stderr.String())
	if m == nil {
		b.Fatalf("no peak RSS in /usr/bin/time output:\n%s", stderr.String())
	}
	kb, _ := strconv.ParseFloat(m[1], 64)
	return wall, kb / 1024
}

// BenchmarkCaptureProcessRSS runs the ddbtape binary over a stream backlog, as a user
// would, and reports its peak RSS (target: under 150 MB) and throughput. The wall time
// includes the --until-idle wait and process start.
func BenchmarkCaptureProcessRSS(b *testing.B) {
	inst, table := freshTable(b, *backlog)
	bin := buildDdbtape(b)
	b.ResetTimer()
	var rss float64
	var wall time.Duration
	for i := 0; i < b.N; i++ {
		w, r := timed(b, inst.Env(), bin, "capture", "--table", table, "--dest", b.TempDir(), "--until-idle", "1s", "--log-level", "warn")
		wall += w
		rss = max(rss, r)
	}
	b.ReportMetric(rss, "peak-rss-MB")
	b.ReportMetric(float64(b.N**backlog)/wall.Seconds(), "records/s-incl-idle")
	fmt.Fprintf(os.Stderr, "capture of %d records: peak RSS %.1f MB\n", *backlog, rss)
}
