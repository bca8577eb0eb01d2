package gcp

import (
	_ "github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp"
	_ "github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	_ "github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	_ "github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
)
