package preflight

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// checkLogin runs `pulumi whoami -v` and returns its result and the
// backend URL it names. The verbose form prints "User: <name>" and
// "Backend URL: <url>" lines (pulumi/pulumi pkg/cmd/pulumi/whoami/whoami.go).
// --non-interactive, and no terminal on stdin or stdout, keep a CLI that
// is logged in nowhere from asking for a token instead of failing.
func checkLogin(ctx context.Context) (Result, string) {
	r := Result{Check: "Pulumi login", Needed: "a Pulumi backend this CLI is logged in to"}
	login := "log in: pulumi login --local (the state stays in ~/.pulumi on this machine) or pulumi login (Pulumi Cloud)"
	if _, err := exec.LookPath("pulumi"); err != nil {
		r.Status, r.Measured = Failed, "no pulumi on PATH"
		r.Fix = "install the Pulumi CLI (mise install, or https://www.pulumi.com/docs/iac/download-install/), then " + login
		return r, ""
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pulumi", "whoami", "-v", "--non-interactive")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.Status, r.Measured = Failed, fmt.Sprintf("pulumi whoami failed (%v): %s", err, lastLine(stderr.Bytes()))
		r.Fix = login
		return r, ""
	}
	var user, backend string
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "User: "); ok {
			user = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Backend URL: "); ok {
			backend = strings.TrimSpace(v)
		}
	}
	if backend == "" {
		r.Status, r.Measured = Failed, fmt.Sprintf("pulumi whoami -v named no backend: %q", strings.TrimSpace(string(out)))
		r.Fix = login
		return r, ""
	}
	r.Measured = fmt.Sprintf("logged in as %s to %s", user, backend)
	return r, backend
}

// Pulumi reads the passphrase of its passphrase secrets provider from
// these variables before it would prompt (https://www.pulumi.com/docs/iac/cli/environment-variables/):
// PULUMI_CONFIG_PASSPHRASE when set at all (an empty passphrase is one),
// else the file PULUMI_CONFIG_PASSPHRASE_FILE names when it is not empty
// (pulumi/pulumi pkg/secrets/passphrase/manager.go, readPassphrase).
const (
	passphraseEnv     = "PULUMI_CONFIG_PASSPHRASE"
	passphraseFileEnv = "PULUMI_CONFIG_PASSPHRASE_FILE"
)

// cloudBackend reports whether a backend URL is Pulumi Cloud (hosted or
// self-hosted, over HTTP), whose stacks default to its own secrets
// provider; a stack on any other backend (file://, s3://, gs://, azblob://)
// defaults to the passphrase provider (`pulumi stack init` reference,
// https://www.pulumi.com/docs/iac/cli/commands/pulumi_stack_init/).
func cloudBackend(url string) bool {
	return strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://")
}

// checkPassphrase makes sure a stack whose secrets need a passphrase gets
// it from the environment: task credentials and task verify run pulumi
// with no terminal to type it into, and would wait at its prompt.
func checkPassphrase(lab Lab, backend string, host Host) Result {
	r := Result{Check: "passphrase", Needed: passphraseEnv + " or " + passphraseFileEnv + " set, as the stack's secrets are encrypted with a passphrase"}
	var why string
	switch {
	case lab.PassphraseSalt:
		why = lab.StackFile + " holds a passphrase salt (encryptionsalt)"
	case backend != "" && !cloudBackend(backend):
		why = "stacks on " + backend + " encrypt their secrets with a passphrase"
	case backend == "":
		r.Status = Unmeasured
		r.Measured = "whether the stack needs a passphrase depends on its backend, which pulumi whoami did not name"
		r.Fix = "log in first; on a backend that is not Pulumi Cloud, export " + passphraseEnv + " as well"
		return r
	default:
		r.Measured = "not needed: " + backend + " encrypts the stack's secrets itself"
		return r
	}
	if _, ok := host.LookupEnv(passphraseEnv); ok {
		r.Measured = why + "; " + passphraseEnv + " is set"
		return r
	}
	if file, _ := host.LookupEnv(passphraseFileEnv); file != "" {
		// Read, as Pulumi will, but never shown.
		if _, err := os.ReadFile(file); err != nil {
			r.Status, r.Measured = Failed, why+"; "+passphraseFileEnv+" names a file that cannot be read: "+err.Error()
			r.Fix = "point " + passphraseFileEnv + " at a readable file holding the passphrase the stack was made with"
			return r
		}
		r.Measured = why + "; " + passphraseFileEnv + " names a readable file"
		return r
	}
	r.Status = Failed
	r.Measured = why + "; neither " + passphraseEnv + " nor " + passphraseFileEnv + " is set"
	r.Fix = "export " + passphraseEnv + "='…' (the passphrase the stack was made with, or a new one before pulumi stack init local) in this shell; without it task credentials and task verify wait at Pulumi's passphrase prompt"
	return r
}

// checkStack looks for the lab's stack among the project's stacks on the
// backend: without it `pulumi up -s <stack>` stops after building the
// program, with "no stack named ... found". `pulumi stack ls --json`
// prints an array of objects whose name is the stack's reference, the bare
// name or organization/project/name as the backend writes it (pulumi/pulumi
// pkg/cmd/pulumi/stack/stack_ls.go, stackSummaryJSON); it lists the
// project in its working directory, the stack file's.
func checkStack(ctx context.Context, lab Lab, backend string) Result {
	r := Result{Check: "stack", Needed: "stack " + lab.Stack + " on the backend this CLI is logged in to"}
	create := "pulumi stack init " + lab.Stack + " (once: " + filepath.Base(lab.StackFile) + " already holds its settings)"
	lookYourself := "run pulumi stack ls in this directory; if " + lab.Stack + " is not listed, " + create
	if backend == "" {
		r.Status, r.Measured = Unmeasured, "which stacks exist depends on the backend, which pulumi whoami did not name"
		r.Fix = "log in first; then, if the stack is not there yet, " + create
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pulumi", "stack", "ls", "--json", "--non-interactive")
	cmd.Dir = filepath.Dir(lab.StackFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.Status, r.Measured, r.Fix = Unmeasured, fmt.Sprintf("pulumi stack ls failed (%v): %s", err, lastLine(stderr.Bytes())), lookYourself
		return r
	}
	var stacks []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &stacks); err != nil {
		r.Status, r.Measured, r.Fix = Unmeasured, "pulumi stack ls --json printed no list of stacks: "+err.Error(), lookYourself
		return r
	}
	var names []string
	for _, s := range stacks {
		if s.Name == lab.Stack || strings.HasSuffix(s.Name, "/"+lab.Stack) {
			r.Measured = s.Name + " on " + backend
			return r
		}
		names = append(names, s.Name)
	}
	r.Status = Failed
	if len(names) == 0 {
		r.Measured = "no stack of this project on " + backend
	} else {
		r.Measured = "no " + lab.Stack + " among this project's stacks on " + backend + ": " + strings.Join(names, ", ")
	}
	r.Fix = create
	return r
}
