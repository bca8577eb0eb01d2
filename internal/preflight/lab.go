package preflight

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/footprint"
)

// Lab is the local stack as its stack file and the config defaults make
// it, and what its nodes take from the host.
type Lab struct {
	// Stack is the Pulumi stack's name.
	Stack string
	// StackFile is the file the settings came from.
	StackFile string
	// Config is the stack's configuration, defaulted and validated as the
	// program does before registering anything.
	Config config.Config
	// Room is what the nodes take: the machines' full sizes, which a VM is
	// given from the host's memory when it starts and a container node may
	// fill (footprint.Report.Capacity).
	Room footprint.Quantity
	// PassphraseSalt is set when the stack file holds the salt of
	// Pulumi's passphrase secrets provider (encryptionsalt), whatever the
	// backend.
	PassphraseSalt bool
}

// ReadStack reads the settings of stack from its stack file and applies
// the program's defaults and rules. A stack that is not local, or settings
// the program would refuse, are errors.
func ReadStack(stack, path string) (Lab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Lab{}, err
	}
	var file struct {
		Config         map[string]any `yaml:"config"`
		EncryptionSalt string         `yaml:"encryptionsalt"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		return Lab{}, fmt.Errorf("%s: %w", path, err)
	}
	// Pulumi hands a program every value as a string, objects and lists
	// as JSON; config.Parse reads them in that form.
	values := map[string]string{}
	for key, v := range file.Config {
		name, ok := strings.CutPrefix(key, config.Namespace+":")
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			values[name] = v
		case []any, map[string]any:
			j, err := json.Marshal(v)
			if err != nil {
				return Lab{}, fmt.Errorf("%s: %s: %w", path, key, err)
			}
			values[name] = string(j)
		default:
			values[name] = fmt.Sprint(v)
		}
	}
	cfg, err := config.Parse(stack, func(key string) (string, bool) {
		v, ok := values[key]
		return v, ok
	})
	if err != nil {
		return Lab{}, fmt.Errorf("%s: %w", path, err)
	}
	if !cfg.Cloud.Local() {
		return Lab{}, fmt.Errorf("%s: stack %s runs on %s, a cloud; the preflight checks are for a local lab (virtualbox, docker)", path, stack, cfg.Cloud)
	}
	cp, err := config.ParseSize(cfg.Cloud, cfg.ControlPlane.Size)
	if err != nil {
		return Lab{}, fmt.Errorf("%s: %w", path, err)
	}
	w, err := config.ParseSize(cfg.Cloud, cfg.Workers.Size)
	if err != nil {
		return Lab{}, fmt.Errorf("%s: %w", path, err)
	}
	// No releases: the machines' sizes do not depend on what runs on them.
	report, err := footprint.Build(stack, footprint.Nodes{
		ControlPlanes: cfg.ControlPlane.Count, Workers: cfg.Workers.Count,
		ControlPlane: cp, Worker: w,
	}, nil)
	if err != nil {
		return Lab{}, err
	}
	return Lab{Stack: stack, StackFile: path, Config: cfg, Room: report.Capacity, PassphraseSalt: file.EncryptionSalt != ""}, nil
}

// nodes describes the lab's machines: 3 control planes and 2 workers of
// 2cpu-4gb.
func (l Lab) nodes() string {
	cp, w := l.Config.ControlPlane, l.Config.Workers
	if cp.Size == w.Size {
		return fmt.Sprintf("%d control planes and %d workers of %s", cp.Count, w.Count, cp.Size)
	}
	return fmt.Sprintf("%d control planes of %s and %d workers of %s", cp.Count, cp.Size, w.Count, w.Size)
}
