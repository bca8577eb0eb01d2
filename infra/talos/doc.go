// Package talos is the TalosCluster component: machine secrets, per-role
// machine configuration with typed patches, configuration applied to every
// node, the one bootstrap, and the kubeconfig and talosconfig that the next
// layers and the user need.
package talos
