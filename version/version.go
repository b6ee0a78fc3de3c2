// Package version says which build of ddbtape is running: the module version it was
// built as and the source revision, from the build information Go records.
package version

import (
	"runtime/debug"
	"strings"
)

// Version is set at link time by release builds (-ldflags "-X
// github.com/ddbtape/ddbtape/version.Version=v1.2.3"); empty: the build information's.
var Version string

// String is the version of this build: "v1.2.3", or for a build from a checkout
// "devel+<12-digit revision>" ("-dirty" when the checkout had changes), "devel" when
// Go recorded neither.
func String() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if modified == "true" {
		v += "-dirty"
	}
	return v
}

// Go is the Go release the binary was built with.
func Go() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.GoVersion
	}
	return "unknown"
}

// Line is what `ddbtape --version` prints.
func Line() string {
	return strings.Join([]string{"ddbtape", String(), "(" + Go() + ")"}, " ")
}
