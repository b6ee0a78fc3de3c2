package testproc

import "testing"

func TestTailBuffer_KeepsTheLastBytes(t *testing.T) {
	b := NewTailBuffer(8)
	for _, w := range []string{"abc", "defgh", "ijk"} {
		if _, err := b.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.String(); got != "defghijk" {
		t.Errorf("tail = %q, want %q", got, "defghijk")
	}
}

func TestRepoRoot_NeedsTheScriptBesideGoMod(t *testing.T) {
	root, err := RepoRoot("dynamodb-local.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RepoRoot("no-such-script.sh"); err == nil {
		t.Errorf("RepoRoot found a root without the script (got %s before)", root)
	}
}
