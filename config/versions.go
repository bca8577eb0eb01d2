package config

// Pinned releases. This is the one table of versions in the program; stack
// config may override each of them.
const (
	// DefaultTalosVersion is the Talos release nodes boot and install. It
	// follows the Talos machinery module in go.mod, which the pulumi-talos
	// provider (Talos 1.12 SDK) and the patch validator both speak.
	DefaultTalosVersion = "v1.12.4"
	// DefaultKubernetesVersion is the Kubernetes release Talos v1.12.4
	// installs by default.
	DefaultKubernetesVersion = "1.35.0"
	// SupportedTalosMinor is the Talos minor release this build's provider
	// and machinery can configure.
	SupportedTalosMinor = "v1.12"
)
