package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseAdd parses the flags of `portal <noun> add …` (args from "add" on)
// into fs, and checks that the flags named in required are set. Errors
// end with usage.
func parseAdd(noun, usage string, args []string, fs *flag.FlagSet, required ...string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New(usage)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s add: %w\n%s", noun, err, usage)
	}
	var missing []string
	for _, name := range required {
		if f := fs.Lookup(name); f == nil || strings.TrimSpace(f.Value.String()) == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s add: missing %s\n%s", noun, strings.Join(missing, ", "), usage)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
