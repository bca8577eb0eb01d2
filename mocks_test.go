package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"gopkg.in/yaml.v3"
)

// registered is one resource the program registered, as the mocks saw it.
type registered struct {
	Type         string
	Name         string
	Parent       string
	Provider     string
	Dependencies []string
	Protect      bool
	Inputs       resource.PropertyMap
}

// mocks answers every resource and invoke of the program with plausible,
// deterministic outputs and records what was registered.
type mocks struct {
	mu        sync.Mutex
	resources []registered
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := registered{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs}
	if args.RegisterRPC != nil {
		r.Parent = args.RegisterRPC.GetParent()
		r.Protect = args.RegisterRPC.GetProtect()
		r.Provider = args.RegisterRPC.GetProvider()
		r.Dependencies = args.RegisterRPC.GetDependencies()
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	out := args.Inputs.Copy()
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	switch args.TypeToken {
	case "aws:ec2/instance:Instance":
		h := hash(args.Name)
		set("privateIp", fmt.Sprintf("10.0.%d.%d", h%3, 10+h%200))
		set("publicIp", fmt.Sprintf("198.51.100.%d", 1+h%250))
	case "aws:lb/loadBalancer:LoadBalancer":
		set("dnsName", args.Name+"-0123456789.elb.eu-central-1.amazonaws.com")
		set("arn", "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/"+args.Name)
	case "aws:lb/targetGroup:TargetGroup":
		set("arn", "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/"+args.Name)
	case "talos:machine/secrets:Secrets":
		out["clientConfiguration"] = resource.NewPropertyValue(map[string]any{
			"caCertificate": "ca-cert", "clientCertificate": "client-cert", "clientKey": "client-key",
		})
		out["machineSecrets"] = resource.NewPropertyValue(map[string]any{"cluster": map[string]any{"id": "id", "secret": "secret"}})
	case "talos:cluster/kubeconfig:Kubeconfig":
		set("kubeconfigRaw", "apiVersion: v1\nkind: Config\nusers: [{name: admin, user: {client-key-data: c2VjcmV0}}]\n")
	case "command:local:Command":
		env := args.Inputs["environment"]
		switch {
		case env.IsObject() && env.ObjectValue().HasValue("SRE_VM_IP"):
			set("stdout", env.ObjectValue()["SRE_VM_IP"].StringValue()+"\n")
		case env.IsObject() && env.ObjectValue().HasValue("SRE_ISO_PATH"):
			set("stdout", env.ObjectValue()["SRE_ISO_PATH"].StringValue()+"\n")
		default:
			set("stdout", "vboxnet0\n")
		}
	}
	return args.Name + "_id", out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	out := args.Args.Copy()
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		set("names", []any{"eu-central-1a", "eu-central-1b", "eu-central-1c"})
	case "aws:ec2/getAmi:getAmi":
		set("id", "ami-0123456789abcdef0")
	case "talos:machine/getConfiguration:getConfiguration":
		set("machineConfiguration", "version: v1alpha1\nmachine:\n  type: "+args.Args["machineType"].StringValue()+"\n")
	case "talos:client/getConfiguration:getConfiguration":
		set("talosConfig", "context: lab\ncontexts: {lab: {key: secret}}\n")
	}
	return out, nil
}

func hash(s string) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32())
}

// stackConfig reads Pulumi.<stack>.yaml into the flat form Pulumi hands a
// program: every value a string, lists as JSON.
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("Pulumi." + stack + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
	}
	out := map[string]string{}
	for k, v := range file.Config {
		switch v := v.(type) {
		case string:
			out[k] = v
		case []any, map[string]any:
			j, _ := json.Marshal(v)
			out[k] = string(j)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// run executes program under mocks with the given config and returns what
// was registered and the stack outputs.
func run(t testing.TB, stack string, cfg map[string]string) (*mocks, map[string]internals.UnsafeAwaitOutputResult, error) {
	t.Helper()
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(j))
	m := &mocks{}
	results := map[string]internals.UnsafeAwaitOutputResult{}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := build(ctx)
		if err != nil {
			return err
		}
		for name, value := range outputs {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(value))
			if err != nil {
				return err
			}
			results[name] = r
			ctx.Export(name, value)
		}
		return nil
	}, pulumi.WithMocks("sre-lab", stack, m))
	return m, results, err
}

// userConfig is a stack file plus what its header comment tells the user to
// set before the first `pulumi up`.
func userConfig(t testing.TB, stack string) map[string]string {
	cfg := stackConfig(t, stack)
	if cfg["sre-lab:cloud"] != "virtualbox" {
		cfg["sre-lab:adminCidrs"] = `["203.0.113.7/32"]`
		cfg["sre-lab:domain"] = stack + ".lab.example.com"
		cfg["sre-lab:acmeEmail"] = "sre@example.com"
	}
	return cfg
}

// countByType counts registered resources per type token.
func (m *mocks) countByType() map[string]int {
	counts := map[string]int{}
	for _, r := range m.resources {
		counts[r.Type]++
	}
	return counts
}

func (m *mocks) byType(token string) []registered {
	var out []registered
	for _, r := range m.resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func isProvider(token string) bool { return strings.HasPrefix(token, "pulumi:providers:") }
