package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is an SFU's process. It is killed if this process dies first.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// spawn starts exe with its output going to logs.
func spawn(exe string, args []string, dir string, logs io.Writer) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	return start(cmd)
}

// startChild starts exe and returns the first line it prints on stdout;
// the rest of its output goes to logs.
func startChild(exe string, args []string, logs io.Writer) (*child, string, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	c, err := start(cmd)
	if err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(logs, r)
	}()
	select {
	case s := <-line:
		if s != "" {
			return c, s, nil
		}
	case <-time.After(30 * time.Second):
	}
	_ = c.stop()
	return nil, "", fmt.Errorf("%s printed no address", exe)
}

func start(cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process and kills it when it has not ended after
// 5 s. An exit caused by the interrupt is no error.
func (c *child) stop() error {
	if c.exited() {
		return fmt.Errorf("%s ended by itself: %v", c.cmd.Path, c.err)
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	var exit *exec.ExitError
	if c.err == nil || errors.As(c.err, &exit) {
		return nil
	}
	return c.err
}
