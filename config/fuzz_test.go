package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that any input gives a Config or an error, never a panic; that every
// error is one line; and that an accepted Config holds what validation promises.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "deploy", "ddbtape.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("destination: /b\ntables:\n  - name: orders\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env("DDBTAPE_BUCKET", "acme", "A", "x"))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is more than one line: %q", err)
			}
			return
		}
		if len(cfg.Tables) == 0 || cfg.Destination == "" || cfg.HTTP.Address == "" || cfg.ShutdownGrace <= 0 {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
		seen := map[string]bool{}
		for _, tb := range cfg.Tables {
			if tb.Name == "" || seen[tb.Name] || tb.Roll.Records <= 0 || tb.Roll.Bytes <= 0 || tb.Roll.Age <= 0 || tb.Retention < 0 {
				t.Fatalf("accepted an invalid table: %+v", tb)
			}
			seen[tb.Name] = true
		}
	})
}
