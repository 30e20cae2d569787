package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuReading is one look at the CPU times in /proc.
type cpuReading struct {
	process float64 // seconds of user and system time of the measured process
	self    float64 // the same of this process, the load generator
	busy    uint64  // ticks all cores were busy, since boot
	total   uint64  // ticks of all cores, busy or idle
}

// busyShare returns the share of the machine's cores that were busy
// between earlier and r.
func (r cpuReading) busyShare(earlier cpuReading) float64 {
	if r.total <= earlier.total {
		return 0
	}
	return float64(r.busy-earlier.busy) / float64(r.total-earlier.total)
}

func readCPU(pid int) (cpuReading, error) {
	var r cpuReading
	var err error
	if r.process, err = processCPU(pid); err != nil {
		return r, err
	}
	if r.self, err = processCPU(os.Getpid()); err != nil {
		return r, err
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return r, err
	}
	r.busy, r.total, err = parseStat(b)
	return r, err
}

// processCPU returns the user and system seconds process pid has used.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parsePidStat(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(ticks) / clockTicks, nil
}

// parsePidStat returns utime+stime, in ticks, of a /proc/<pid>/stat line.
// The command name in parentheses may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parsePidStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("too few fields")
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// parseStat returns the busy and total ticks of all cores from /proc/stat
// ("cpu user nice system idle iowait irq softirq steal ..."; idle and
// iowait are not busy).
func parseStat(b []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, nil
}

// readRSS returns the resident memory of process pid (VmRSS), in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}
