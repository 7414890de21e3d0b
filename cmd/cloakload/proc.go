package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// procSample is what /proc tells about the server process at one moment.
type procSample struct {
	cpu   time.Duration // user + system time since the process started
	syscw uint64        // write-like system calls since it started (write, writev, sendmsg…)
	rss   uint64        // resident memory now, bytes
	hwm   uint64        // peak resident memory, bytes
}

// userHZ is the unit of times in /proc/PID/stat: USER_HZ, which Linux
// fixes at 100 for user space whatever the kernel's own tick rate.
const userHZ = 100

// sampleProc reads /proc/PID/{stat,io,status}. Reading io needs the right to
// trace the process (the same user, or root).
func sampleProc(pid int) (procSample, error) {
	var s procSample
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return s, err
	}
	if s.cpu, err = parseStatCPU(stat); err != nil {
		return s, err
	}
	io, err := os.ReadFile(dir + "io")
	if err != nil {
		return s, err
	}
	if s.syscw, err = parseField(io, "syscw:"); err != nil {
		return s, err
	}
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return s, err
	}
	rss, err := parseField(status, "VmRSS:")
	if err != nil {
		return s, err
	}
	hwm, err := parseField(status, "VmHWM:")
	if err != nil {
		return s, err
	}
	s.rss, s.hwm = rss<<10, hwm<<10 // status counts in kB
	return s, nil
}

// parseStatCPU reads utime + stime (fields 14 and 15) from /proc/PID/stat.
// The command name (field 2, in parentheses) may hold spaces and
// parentheses itself, so the fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// parseField reads the number after key in a "key value" per line file
// such as /proc/PID/io or /proc/PID/status ("VmRSS:   1234 kB").
func parseField(b []byte, key string) (uint64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		return strconv.ParseUint(string(f[0]), 10, 64)
	}
	return 0, fmt.Errorf("no %s field", key)
}

// machineCPU is what /proc/stat's first line says all CPUs spent: busy
// (user, nice, system, irq, softirq) and stolen by the hypervisor.
type machineCPU struct{ busy, steal time.Duration }

func sampleMachine() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineCPU(b)
}

// parseMachineCPU reads the "cpu " line of /proc/stat:
//
//	cpu  user nice system idle iowait irq softirq steal guest guest_nice
//
// in USER_HZ ticks (guest time is already counted in user).
func parseMachineCPU(stat []byte) (machineCPU, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return machineCPU{}, errors.New("stat: no cpu line")
	}
	var t [8]uint64
	for i := range t {
		n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("stat: %w", err)
		}
		t[i] = n
	}
	tick := time.Second / userHZ
	return machineCPU{
		busy:  time.Duration(t[0]+t[1]+t[2]+t[5]+t[6]) * tick,
		steal: time.Duration(t[7]) * tick,
	}, nil
}

// selfCPU is the user + system time this process has used.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCores is how many CPUs this process may run on (taskset narrows it).
func selfCores() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() == 0 {
		return 1
	}
	return set.Count()
}

// raiseFileLimit lifts the soft limit on open files to the hard one: every
// reader holds a socket.
func raiseFileLimit() (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	l.Cur = l.Max
	return l.Cur, unix.Setrlimit(unix.RLIMIT_NOFILE, &l)
}

// loadAverage is the first three fields of /proc/loadavg ("0.45 2.65 3.33").
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return ""
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}
