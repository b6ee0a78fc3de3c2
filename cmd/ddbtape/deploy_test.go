package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/metrics"
)

const deployDir = "../../deploy"

// parseRunArgs parses a container's or unit's arguments with the real run command's
// flag set and returns the config path they name.
func parseRunArgs(t *testing.T, where string, args []string) string {
	t.Helper()
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("%s: arguments %q do not start with the run command", where, args)
	}
	e := &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	fs, o := runFlags(e)
	if err := cli.Parse(fs, args[1:]); err != nil {
		t.Fatalf("%s: 'ddbtape %s' does not parse: %v", where, strings.Join(args, " "), err)
	}
	if o.config == "" {
		t.Fatalf("%s: no --config in %q", where, args)
	}
	return o.config
}

// port returns the numeric port of a listen address such as ":9090".
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// manifests decodes every document of every YAML file in deploy/kubernetes strictly into
// its Kubernetes API type: an unknown or misspelt field fails.
func manifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes (%v)", err)
	}
	out := map[string][]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := sigsyaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch meta.APIVersion + "/" + meta.Kind {
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "batch/v1/CronJob":
				obj = &batchv1.CronJob{}
			case "batch/v1/Job":
				obj = &batchv1.Job{}
			default:
				t.Fatalf("%s document %d: kind %s %s is not one the test knows; add it", f, i, meta.APIVersion, meta.Kind)
			}
			if err := decodeStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, meta.Kind, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], obj)
		}
	}
	return out
}

// decodeStrict decodes a YAML document as the API server does in strict field
// validation: duplicate keys, unknown fields and fields in the wrong case are errors
// (encoding/json alone would take readinessprobe for readinessProbe).
func decodeStrict(doc []byte, obj any) error {
	j, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("%v", strictErrs)
	}
	return nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestDecodeStrict_RefusesUnknownMiscasedAndRepeatedFields(t *testing.T) {
	cases := map[string]string{
		"unknown":  "spec:\n  replicaz: 1\n",
		"miscased": "spec:\n  template:\n    spec:\n      initContainers:\n        - name: x\n          readinessprobe: {}\n",
		"repeated": "spec:\n  replicas: 1\n  replicas: 2\n",
	}
	for name, doc := range cases {
		if err := decodeStrict([]byte(doc), &appsv1.Deployment{}); err == nil {
			t.Errorf("%s field accepted:\n%s", name, doc)
		}
	}
	if err := decodeStrict([]byte("spec:\n  replicas: 1\n"), &appsv1.Deployment{}); err != nil {
		t.Errorf("a valid document was refused: %v", err)
	}
}

// TestDeployManifests_MatchWhatTheBinaryServesAndAccepts checks each Deployment's
// ddbtape container against the run command and the config it mounts: arguments,
// config path and key, HTTP port, probe paths, spool volume, security and resources.
func TestDeployManifests_MatchWhatTheBinaryServesAndAccepts(t *testing.T) {
	all := manifests(t)
	for _, want := range []string{"sidecar.yaml", "standalone.yaml"} {
		if _, ok := all[want]; !ok {
			t.Errorf("deploy/kubernetes/%s is missing", want)
		}
	}
	for file, objs := range all {
		t.Run(file, func(t *testing.T) {
			configMaps := map[string]*corev1.ConfigMap{}
			var deployments []*appsv1.Deployment
			var services []*corev1.Service
			jobs := 0
			for _, o := range objs {
				switch o := o.(type) {
				case *corev1.ConfigMap:
					configMaps[o.Name] = o
				case *appsv1.Deployment:
					deployments = append(deployments, o)
				case *corev1.Service:
					services = append(services, o)
				case *batchv1.Job:
					jobs++ // a Job's file is checked by its own test
				}
			}
			if len(deployments) == 0 && jobs == 0 {
				t.Fatal("no Deployment")
			}
			for _, d := range deployments {
				checkDeployment(t, file, d, configMaps, services)
			}
		})
	}
}

func checkDeployment(t *testing.T, file string, d *appsv1.Deployment, configMaps map[string]*corev1.ConfigMap, services []*corev1.Service) {
	pod := d.Spec.Template.Spec
	var c *corev1.Container
	sidecar := false
	for i := range pod.InitContainers {
		if pod.InitContainers[i].Name == "ddbtape" {
			c, sidecar = &pod.InitContainers[i], true
		}
	}
	for i := range pod.Containers {
		if pod.Containers[i].Name == "ddbtape" {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Fatalf("Deployment %s has no container named ddbtape", d.Name)
	}
	if file == "sidecar.yaml" {
		if !sidecar || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("sidecar: ddbtape must be an init container with restartPolicy: Always (a native sidecar)")
		}
		if len(pod.Containers) == 0 {
			t.Errorf("sidecar: no application container beside ddbtape")
		}
	}
	checkMemoryHeadroom(t, file, c)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment %s: want 1 replica with the Recreate strategy (one capture per table at a time)", d.Name)
	}
	if len(c.Command) != 0 {
		t.Errorf("ddbtape container sets command %q; the image's entrypoint is the binary", c.Command)
	}

	// The config: the --config path must be a file of a mounted ConfigMap, and load.
	configPath := parseRunArgs(t, file, c.Args)
	if configPath != DefaultConfigPath {
		t.Errorf("--config %s, want the image's default %s", configPath, DefaultConfigPath)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cm, ok := mounts[path.Dir(configPath)]
	if !ok || !cm.ReadOnly || volumes[cm.Name].ConfigMap == nil {
		t.Fatalf("%s is not in a read-only ConfigMap volume mounted at %s", configPath, path.Dir(configPath))
	}
	configMap := configMaps[volumes[cm.Name].ConfigMap.Name]
	if configMap == nil {
		t.Fatalf("ConfigMap %s is not in %s", volumes[cm.Name].ConfigMap.Name, file)
	}
	data, ok := configMap.Data[path.Base(configPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", configMap.Name, path.Base(configPath))
	}
	containerEnv := func(name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				if e.ValueFrom != nil {
					return "from-" + name
				}
				return e.Value
			}
		}
		return ""
	}
	cfg, err := config.Parse([]byte(data), containerEnv)
	if err != nil {
		t.Fatalf("the config in ConfigMap %s does not load with the container's environment: %v", configMap.Name, err)
	}

	// Port and probes: what the binary serves on the config's address.
	httpPort := port(t, cfg.HTTP.Address)
	portName := ""
	for _, p := range c.Ports {
		if int(p.ContainerPort) == httpPort {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Errorf("no containerPort %d (the config's http.address %s)", httpPort, cfg.HTTP.Address)
	}
	probePort := func(p intstr.IntOrString) bool {
		return (p.Type == intstr.String && p.StrVal == portName && portName != "") || (p.Type == intstr.Int && int(p.IntVal) == httpPort)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, metrics.PathHealthz},
		{"readinessProbe", c.ReadinessProbe, metrics.PathReadyz},
		{"startupProbe", c.StartupProbe, metrics.PathHealthz},
	} {
		if pr.probe == nil {
			if pr.name != "startupProbe" {
				t.Errorf("no %s", pr.name)
			}
			continue
		}
		g := pr.probe.HTTPGet
		if g == nil || g.Path != pr.path || !probePort(g.Port) {
			t.Errorf("%s = %+v, want GET %s on port %d", pr.name, g, pr.path, httpPort)
		}
		if pr.name == "readinessProbe" && pr.probe.TimeoutSeconds <= int32(metrics.ReadyTimeout/time.Second) {
			t.Errorf("readinessProbe timeout %ds is not above the readiness check's own bound %s", pr.probe.TimeoutSeconds, metrics.ReadyTimeout)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/port"] != strconv.Itoa(httpPort) || ann["prometheus.io/path"] != metrics.PathMetrics {
		t.Errorf("prometheus annotations %v do not point at :%d%s", ann, httpPort, metrics.PathMetrics)
	}
	for _, s := range services {
		for _, p := range s.Spec.Ports {
			if int(p.Port) != httpPort || !probePort(p.TargetPort) {
				t.Errorf("Service %s port %+v does not reach the container's port %d", s.Name, p, httpPort)
			}
		}
	}

	// The spool: an emptyDir, writable, at the config's spool-dir.
	spool, ok := mounts[cfg.SpoolDir]
	if cfg.SpoolDir == "" || !ok || spool.ReadOnly || volumes[spool.Name].EmptyDir == nil {
		t.Errorf("spool-dir %q is not a writable emptyDir mount (the root file system is read-only)", cfg.SpoolDir)
	}

	// Stopping: the pod must give ddbtape its shutdown grace.
	grace := cfg.ShutdownGrace + 15*time.Second
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second < grace {
		t.Errorf("terminationGracePeriodSeconds %v is below shutdown-grace %s + 15s", pod.TerminationGracePeriodSeconds, cfg.ShutdownGrace)
	}

	// Security and resources.
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("ddbtape securityContext %+v: want readOnlyRootFilesystem, no privilege escalation, all capabilities dropped", sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot with a non-zero runAsUser", psc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}
	if pod.ServiceAccountName == "" {
		t.Errorf("no serviceAccountName: AWS credentials come from the service account")
	}
}

// TestDockerfile_MatchesTheBinary checks the image runs the binary as non-root, with the
// run command's default arguments, and exposes the config's default HTTP port.
func TestDockerfile_MatchesTheBinary(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user, entrypoint, cmd, expose string
	cgoOff := false
	var logical strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			logical.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		logical.WriteString(line)
		inst, rest, _ := strings.Cut(logical.String(), " ")
		logical.Reset()
		switch strings.ToUpper(inst) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "CMD":
			cmd = rest
		case "EXPOSE":
			expose = rest
		case "RUN":
			if strings.Contains(rest, "CGO_ENABLED=0") && strings.Contains(rest, "go build") && strings.Contains(rest, "./cmd/ddbtape") {
				cgoOff = true
			}
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %q", froms)
	} else if final := froms[len(froms)-1]; !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage FROM %s: want distroless static (CA certificates, no shell)", final)
	}
	if !cgoOff {
		t.Errorf("no 'CGO_ENABLED=0 ... go build ... ./cmd/ddbtape' step: the binary must be static")
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	var ep, args []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/ddbtape" {
		t.Errorf("ENTRYPOINT %s: want [\"/ddbtape\"] (exec form, so SIGTERM reaches the binary)", entrypoint)
	}
	if err := json.Unmarshal([]byte(cmd), &args); err != nil {
		t.Fatalf("CMD %s is not the exec form: %v", cmd, err)
	}
	if got := parseRunArgs(t, "Dockerfile CMD", args); got != DefaultConfigPath {
		t.Errorf("CMD config %s, want %s", got, DefaultConfigPath)
	}
	if expose != strconv.Itoa(port(t, config.DefaultHTTPAddress)) {
		t.Errorf("EXPOSE %s, want the default http.address port %s", expose, config.DefaultHTTPAddress)
	}
}

// TestSystemdUnit_MatchesTheBinaryAndTheSampleConfig checks the unit's command lines
// with the run flags, its writable paths against the sample config's spool, its stop
// timeout against the shutdown grace, and its hardening.
func TestSystemdUnit_MatchesTheBinaryAndTheSampleConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "systemd", "ddbtape.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	section := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("unit line %q is not key=value", l)
			}
			unit[section+"."+k] = append(unit[section+"."+k], v)
		}
	}
	one := func(key string) string {
		if len(unit[key]) != 1 {
			t.Errorf("%s: want exactly one, got %q", key, unit[key])
			return ""
		}
		return unit[key][0]
	}
	cfg, err := config.Load(filepath.Join(deployDir, "ddbtape.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	fields := strings.Fields(one("Service.ExecStart"))
	if len(fields) == 0 || fields[0] != "/usr/local/bin/ddbtape" {
		t.Fatalf("ExecStart %q does not run /usr/local/bin/ddbtape", fields)
	}
	if got := parseRunArgs(t, "ExecStart", fields[1:]); got != DefaultConfigPath {
		t.Errorf("ExecStart config %s, want %s", got, DefaultConfigPath)
	}
	pre := strings.Fields(one("Service.ExecStartPre"))
	if len(pre) < 2 || parseRunArgs(t, "ExecStartPre", pre[1:]) != DefaultConfigPath || !strings.Contains(one("Service.ExecStartPre"), "--check") {
		t.Errorf("ExecStartPre %q: want 'run --config %s --check'", pre, DefaultConfigPath)
	}
	rw := one("Service.ReadWritePaths")
	if cfg.SpoolDir == "" || !strings.HasPrefix(cfg.SpoolDir+"/", strings.TrimSuffix(rw, "/")+"/") {
		t.Errorf("ReadWritePaths %s does not hold the sample config's spool-dir %s", rw, cfg.SpoolDir)
	}
	if state := "/var/lib/" + one("Service.StateDirectory"); state != rw {
		t.Errorf("StateDirectory gives %s, ReadWritePaths is %s: the spool would not be created", state, rw)
	}
	if got, want := one("Service.TimeoutStopSec"), fmt.Sprint(int((cfg.ShutdownGrace+15*time.Second)/time.Second)); got != want {
		t.Errorf("TimeoutStopSec=%s, want %s (the sample config's shutdown-grace %s + 15s)", got, want, cfg.ShutdownGrace)
	}
	for key, want := range map[string]string{
		"Service.ProtectSystem":            "strict",
		"Service.Restart":                  "on-failure",
		"Service.RestartPreventExitStatus": "2",
		"Service.NoNewPrivileges":          "yes",
		"Service.KillSignal":               "SIGTERM",
		"Service.DynamicUser":              "yes",
		"Service.ProtectHome":              "yes",
		"Service.PrivateTmp":               "yes",
		"Install.WantedBy":                 "multi-user.target",
	} {
		if got := one(key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
}

// The three deployments share one spool path and one config path.
func TestDeployFiles_AgreeOnPaths(t *testing.T) {
	cfg, err := config.Load(filepath.Join(deployDir, "ddbtape.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for file, objs := range manifests(t) {
		for _, o := range objs {
			cm, ok := o.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			k8s, err := config.Parse([]byte(cm.Data["ddbtape.yaml"]), func(string) string { return "x" })
			if err != nil {
				t.Fatalf("%s ConfigMap %s: %v", file, cm.Name, err)
			}
			if k8s.SpoolDir != cfg.SpoolDir || k8s.HTTP.Address != cfg.HTTP.Address {
				t.Errorf("%s: spool-dir %s and http.address %s differ from the sample config's %s and %s",
					file, k8s.SpoolDir, k8s.HTTP.Address, cfg.SpoolDir, cfg.HTTP.Address)
			}
		}
	}
}

// TestDeployManifests_RetentionRunsAsAJobOfItsOwnWithTheMaintenanceRole checks the
// sidecar's split of roles: the pod runs with maintenance off (its role may not delete),
// and a CronJob with a service account of its own runs `ddbtape retention` with
// arguments that parse with the real command and repeat the config's destination,
// retention, object lock and encryption.
func TestDeployManifests_RetentionRunsAsAJobOfItsOwnWithTheMaintenanceRole(t *testing.T) {
	objs := manifests(t)["sidecar.yaml"]
	accounts := map[string]*corev1.ServiceAccount{}
	var cfgData string
	var pod *corev1.PodSpec
	var jobs []*batchv1.CronJob
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			accounts[o.Name] = o
		case *corev1.ConfigMap:
			cfgData = o.Data["ddbtape.yaml"]
		case *appsv1.Deployment:
			pod = &o.Spec.Template.Spec
		case *batchv1.CronJob:
			jobs = append(jobs, o)
		}
	}
	cfg, err := config.Parse([]byte(cfgData), func(string) string { return "x" })
	if err != nil || pod == nil {
		t.Fatalf("sidecar config: %v (Deployment found: %v)", err, pod != nil)
	}
	if cfg.Maintenance || cfg.ObjectLock.Mode == "" {
		t.Errorf("the sidecar's config runs maintenance %v with object lock %+v: want no maintenance (its role may not delete) and a lock", cfg.Maintenance, cfg.ObjectLock)
	}
	if len(jobs) != 1 {
		t.Fatalf("%d CronJobs in sidecar.yaml, want the retention job", len(jobs))
	}
	j := jobs[0]
	spec := j.Spec.JobTemplate.Spec.Template.Spec
	role := func(sa string) string {
		if a := accounts[sa]; a != nil {
			return a.Annotations["eks.amazonaws.com/role-arn"]
		}
		return ""
	}
	if role(spec.ServiceAccountName) == "" || role(spec.ServiceAccountName) == role(pod.ServiceAccountName) {
		t.Errorf("the retention job runs as %q (role %q), the pod as %q (role %q): want a role of its own", spec.ServiceAccountName, role(spec.ServiceAccountName), pod.ServiceAccountName, role(pod.ServiceAccountName))
	}
	if j.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || len(spec.Containers) != 1 {
		t.Fatalf("CronJob %s: want concurrencyPolicy Forbid and one container", j.Name)
	}
	args := spec.Containers[0].Args
	if len(args) == 0 || args[0] != "retention" {
		t.Fatalf("the job runs %q, want ddbtape retention", args)
	}
	e := &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	if err := runRetention(t.Context(), e, append(args[1:], "-h")); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("'ddbtape %s' does not parse: %v", strings.Join(args, " "), err)
	}
	flagValue := func(name string) string {
		for i := 1; i+1 < len(args); i++ {
			if args[i] == "--"+name {
				return args[i+1]
			}
		}
		return ""
	}
	keep, _ := config.ParseDuration(flagValue("keep"))
	lockFor, _ := config.ParseDuration(flagValue("object-lock-for"))
	if flagValue("source") != cfg.Destination || keep != cfg.Tables[0].Retention || flagValue("table") != cfg.Tables[0].Name ||
		!strings.EqualFold(flagValue("object-lock-mode"), cfg.ObjectLock.Mode) || lockFor != cfg.ObjectLock.For || flagValue("sse") != cfg.S3.SSE {
		t.Errorf("the job's arguments %q do not repeat the config: destination %s, table %s, retention %s, lock %+v, sse %s",
			args, cfg.Destination, cfg.Tables[0].Name, cfg.Tables[0].Retention, cfg.ObjectLock, cfg.S3.SSE)
	}
	if sc := spec.Containers[0].SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the retention container's securityContext %+v: want a read-only root file system", sc)
	}
}

// checkMemoryHeadroom wants GOMEMLIMIT set below the container's memory limit, with room
// for what the Go heap does not count: set to the limit itself, the runtime would let the
// heap grow until the kernel kills the process.
func checkMemoryHeadroom(t *testing.T, file string, c *corev1.Container) {
	t.Helper()
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		t.Errorf("%s: the ddbtape container has no memory limit", file)
		return
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		mib, ok := strings.CutSuffix(e.Value, "MiB")
		n, err := strconv.Atoi(mib)
		if e.ValueFrom != nil || !ok || err != nil {
			t.Errorf("%s: GOMEMLIMIT %q (from %v), want a value in MiB below the memory limit", file, e.Value, e.ValueFrom)
			return
		}
		if soft, hard := int64(n)<<20, limit.Value(); soft > hard*9/10 || soft < hard/2 {
			t.Errorf("%s: GOMEMLIMIT %s against a memory limit of %s: want 50-90%% of it", file, e.Value, limit.String())
		}
		return
	}
	t.Errorf("%s: the ddbtape container does not set GOMEMLIMIT", file)
}

// The image's build context leaves out what the build does not read (the demo's backup
// and the test components are hundreds of MB) and keeps every file the build needs.
func TestDockerignore_KeepsTheBuildContextToTheSources(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "..", ".dockerignore"))
	if err != nil {
		t.Fatalf("no .dockerignore at the repository root: %v", err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	ignored := func(path string) bool {
		for _, p := range patterns {
			for prefix := path; ; {
				if ok, _ := filepath.Match(p, prefix); ok {
					return true
				}
				if rest, found := strings.CutPrefix(p, "**/"); found {
					if ok, _ := filepath.Match(rest, filepath.Base(prefix)); ok {
						return true
					}
				}
				if prefix = filepath.Dir(prefix); prefix == "." {
					break
				}
			}
		}
		return false
	}
	for _, p := range []string{".cache/dynamodb-local/DynamoDBLocal.jar", "demo-backup/demo_orders/ledger/log/x.json", "demo-restored.json.gz", ".git/HEAD", "ddbtape", "bin/ddbtape", "cmd/ddbtape/main_test.go"} {
		if !ignored(p) {
			t.Errorf("%s is sent to the Docker build", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/ddbtape/main.go", "replicator/capture.go", "internal/cmd/benchtool/main.go"} {
		if ignored(p) {
			t.Errorf("%s, which the build needs, is left out of its context", p)
		}
	}
}
