package capturelock

import (
	"fmt"
	"os"
	"strings"
)

// machine fills in what tells this process apart on Linux: its start time in clock ticks
// after boot, the boot's id and the pid namespace.
func machine(d *Doc) {
	d.ProcStart, _ = processStart(d.PID)
	if data, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		d.BootID = strings.TrimSpace(string(data))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		d.PIDNamespace = ns
	}
}

// processStart reports whether process pid runs (in this pid namespace) and its start
// time, field 22 of /proc/<pid>/stat. A zombie counts as ended.
func processStart(pid int) (string, bool) {
	if pid <= 0 {
		return "", false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// The command name (field 2) is in parentheses and may hold spaces or ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return "", false
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return "", false
	}
	return fields[19], true
}
