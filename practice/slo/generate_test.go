package slo

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update regenerates sloth_rules.yaml with slothgen instead of checking it.
var update = flag.Bool("update", false, "regenerate "+RuleFileName+" from All with slothgen")

// TestRuleFileIsCurrent: the embedded rule file was made from All's specs.
// With -update it runs slothgen (its own module, see its package comment)
// and writes the file first.
func TestRuleFileIsCurrent(t *testing.T) {
	if *update {
		input, err := generatorInput(All())
		require.NoError(t, err)
		cmd := exec.Command("go", "run", ".")
		cmd.Dir = "slothgen"
		cmd.Stdin = bytes.NewReader(input)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "slothgen: %s", stderr.String())
		require.NoError(t, os.WriteFile("sloth_rules.yaml", out, 0o644))
		slothRules = out
	}
	_, err := build(All(), slothRules)
	require.NoError(t, err)
}

// TestStaleRuleFile: rules made from other specs are refused with the way
// to regenerate them, whatever changed.
func TestStaleRuleFile(t *testing.T) {
	changed := All()
	changed[0].Objective = 99.9
	_, err := build(changed, slothRules)
	require.Error(t, err)
	assert.Contains(t, err.Error(), RuleFileName+" was not generated from the SLOs in practice/slo")
	assert.Contains(t, err.Error(), RegenerateCommand)

	_, err = build(All(), []byte("groups: []\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `its first line is "groups: []"`)
}
