package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// runMeasure runs a command and writes what it cost to -o, one line: wall seconds, CPU
// seconds (user + system, of the command and any children it waited for) and peak RSS in
// KB. The kernel keeps CPU time to the microsecond; GNU time prints it to the hundredth,
// too coarse for a run that takes a fifth of a CPU second. The command's status is
// benchtool's.
func runMeasure(fs *flag.FlagSet, args []string) error {
	out := fs.String("o", "", "file the measurement is written to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: benchtool measure -o FILE -- COMMAND [ARG...]")
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	began := time.Now()
	runErr := cmd.Run()
	wall := time.Since(began)
	if cmd.ProcessState == nil {
		return fmt.Errorf("run %s: %w", fs.Arg(0), runErr)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("no resource usage on this system")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	line := fmt.Sprintf("%.6f %.6f %d\n", wall.Seconds(), cpu.Seconds(), ru.Maxrss)
	if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
		return err
	}
	if runErr != nil {
		os.Exit(cmd.ProcessState.ExitCode())
	}
	return nil
}
