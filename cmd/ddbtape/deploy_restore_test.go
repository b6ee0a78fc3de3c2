package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/replay"
)

// expandArgs does what the kubelet does to a container's arguments: $(NAME) becomes the
// value of the container's variable NAME; a name the container does not declare stays.
func expandArgs(args []string, vars map[string]string) []string {
	re := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = re.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[re.FindStringSubmatch(m)[1]]; ok {
				return v
			}
			return m
		})
	}
	return out
}

// TestDeployManifests_RestoreRunsAsAnIndexedJobOfPartitions checks deploy/kubernetes/
// restore-job.yaml: an Indexed Job of N completions whose pod I runs `ddbtape restore
// --partition I/N` (its arguments parse with the real restore command once the kubelet
// put JOB_COMPLETION_INDEX in), so the N pods together are one restore; a failed pod is
// retried with its index, a usage error fails the Job, and the spill goes to a volume.
func TestDeployManifests_RestoreRunsAsAnIndexedJobOfPartitions(t *testing.T) {
	objs := manifests(t)["restore-job.yaml"]
	var job *batchv1.Job
	accounts := map[string]*corev1.ServiceAccount{}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			job = o
		case *corev1.ServiceAccount:
			accounts[o.Name] = o
		}
	}
	if job == nil {
		t.Fatal("deploy/kubernetes/restore-job.yaml holds no Job")
	}
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion || spec.Completions == nil || *spec.Completions < 2 {
		t.Fatalf("the Job's completionMode %v and completions %v: want Indexed with N > 1", spec.CompletionMode, spec.Completions)
	}
	n := int(*spec.Completions)
	if spec.Parallelism == nil || *spec.Parallelism < 1 || int(*spec.Parallelism) > n || spec.BackoffLimitPerIndex == nil {
		t.Errorf("parallelism %v, backoffLimitPerIndex %v: want at most N pods at once, each index retried", spec.Parallelism, spec.BackoffLimitPerIndex)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s: backoffLimitPerIndex needs Never", pod.RestartPolicy)
	}
	failsOnUsage := false
	if spec.PodFailurePolicy != nil {
		for _, r := range spec.PodFailurePolicy.Rules {
			failsOnUsage = failsOnUsage || r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil &&
				r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && len(r.OnExitCodes.Values) == 1 && r.OnExitCodes.Values[0] == 2
		}
	}
	if !failsOnUsage {
		t.Errorf("podFailurePolicy %+v: a usage error (exit 2) must fail the Job, not be retried", spec.PodFailurePolicy)
	}
	if a := accounts[pod.ServiceAccountName]; a == nil || a.Annotations["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("the pods run as %q, which is no service account of the file with a role", pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the restore", len(pod.Containers))
	}
	c := pod.Containers[0]
	vars := map[string]string{}
	indexed := false
	for _, v := range c.Env {
		vars[v.Name] = v.Value
		if v.Name == "JOB_COMPLETION_INDEX" {
			indexed = v.ValueFrom != nil && v.ValueFrom.FieldRef != nil &&
				v.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
		}
	}
	if !indexed {
		t.Errorf("the container does not take JOB_COMPLETION_INDEX from the pod's completion index")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the restore container's securityContext %+v: want a read-only root file system", sc)
	}
	checkMemoryHeadroom(t, "restore-job.yaml", &c)
	seen := map[int]bool{}
	for i := range n {
		vars["JOB_COMPLETION_INDEX"] = fmt.Sprint(i)
		args := expandArgs(c.Args, vars)
		if len(args) == 0 || args[0] != "restore" {
			t.Fatalf("the pods run %q, want ddbtape restore", args)
		}
		e := &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		if err := runRestore(t.Context(), e, append(args[1:], "-h")); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("pod %d: 'ddbtape %s' does not parse: %v", i, strings.Join(args, " "), err)
		}
		value := func(name string) string {
			for j := 1; j+1 < len(args); j++ {
				if args[j] == "--"+name {
					return args[j+1]
				}
			}
			return ""
		}
		part, err := replay.ParsePartition(value("partition"))
		if err != nil || part.Count != n {
			t.Fatalf("pod %d restores partition %q (%v): want I/%d", i, value("partition"), err, n)
		}
		seen[part.Index] = true
		spill := value("temp-dir")
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.MountPath == spill
		}
		if spill == "" || !mounted {
			t.Errorf("pod %d spills to %q, which is no volume of the pod (the root file system is read-only)", i, spill)
		}
	}
	if len(seen) != n {
		t.Errorf("the %d pods restore partitions %v: each of 0..%d must be restored once", n, seen, n-1)
	}
}
