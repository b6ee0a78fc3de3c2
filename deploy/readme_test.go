package deploy

import (
	"os"
	"strings"
	"testing"
)

func TestREADME_HoldsTheExampleConfigVerbatim(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("ddbtape.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+string(example)+"```\n") {
		t.Error("deploy/README.md's copy of deploy/ddbtape.yaml differs from the file: paste the file into its yaml block again")
	}
}
