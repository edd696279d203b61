#!/usr/bin/env python3
"""Checks deploy/kubernetes beyond its schemas, and extracts what the real binaries check.

Usage: check_manifests.py MANIFEST_DIR OUT_DIR

kubernetes-validate checks each object against Kubernetes' OpenAPI schemas; this checks
what no schema can: that the objects fit together (every ConfigMap, Secret, key, volume,
port and Service they name exists), that every path in the collector's config is a key of
something mounted there, that the rules are deploy/rules/host.example.yml, and that the
agent and collector keep the promises of issue 14 (non-root, read-only, host mounts,
tolerations, limits, ...). It writes, into OUT_DIR:

  collector.toml   the ConfigMap's config, for the real vigil-collector to load
  rules/*.yml      the rule files, for `vigil rules check`
  agent.json       {"args": [...], "env": {...}}: the agent container's arguments and
                   environment, Secrets resolved from secrets.example.yaml and
                   spec.nodeName as "k8s-node-1", for the real vigil-agent to load

Exits 1 with one line per problem; prints one line per check that passed.
"""

import fnmatch
import json
import os
import sys
import tomllib

import yaml

NODE_NAME = "k8s-node-1"
USER = 65532

problems = []
passed = []


def check(ok, what):
    (passed if ok else problems).append(what)
    return ok


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def containers(pod, init=True):
    return (pod.get("initContainers", []) if init else []) + pod["containers"]


def main():
    manifest_dir, out_dir = sys.argv[1], sys.argv[2]
    kustomization = load(os.path.join(manifest_dir, "kustomization.yaml"))[0]
    listed = kustomization["resources"]
    on_disk = sorted(
        f
        for f in os.listdir(manifest_dir)
        if f.endswith(".yaml") and f not in ("kustomization.yaml", "secrets.example.yaml")
    )
    check(sorted(listed) == on_disk,
          f"kustomization.yaml lists every manifest ({', '.join(on_disk)}); it lists {listed}")

    objects = {}
    for name in listed + ["secrets.example.yaml"]:
        for doc in load(os.path.join(manifest_dir, name)):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
            if doc["kind"] != "Namespace":
                check(doc["metadata"].get("namespace") == "vigil",
                      f"{doc['kind']}/{doc['metadata']['name']} is in namespace vigil")

    images = {i["name"] for i in kustomization.get("images", [])}
    for kind, name in list(objects):
        if kind in ("StatefulSet", "DaemonSet"):
            workload(objects, objects[(kind, name)], images)

    collector = objects[("StatefulSet", "vigil-collector")]
    agent = objects[("DaemonSet", "vigil-agent")]
    collector_promises(objects, collector)
    agent_promises(agent)
    services(objects, collector)
    with open(os.path.join(manifest_dir, "..", "rules", "host.example.yml")) as f:
        check(objects[("ConfigMap", "vigil-collector-rules")]["data"].get("host.yml") == f.read(),
              "ConfigMap vigil-collector-rules: host.yml is deploy/rules/host.example.yml")
    if not problems:
        extract(objects, collector, agent, out_dir)

    for line in passed:
        print(f"ok    {line}")
    for line in problems:
        print(f"FAIL  {line}")
    return 1 if problems else 0


def workload(objects, obj, images):
    """Every volume, key, Secret and ConfigMap a workload names exists; every container is
    locked down and has limits."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    spec = obj["spec"]
    pod = spec["template"]["spec"]
    check(spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
          f"{name}: its selector matches its pod labels")
    check(pod.get("automountServiceAccountToken") is False,
          f"{name}: no service account token (it never calls the API)")
    check(pod["securityContext"].get("runAsNonRoot") is True
          and pod["securityContext"].get("runAsUser") == USER,
          f"{name}: the pod runs as non-root uid {USER}")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    for c in containers(pod):
        where = f"{name} container {c['name']}"
        check(c["image"].split(":")[0] in images, f"{where}: its image is named in kustomization.yaml")
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: read-only root filesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drops every capability")
        check(sc.get("privileged") in (None, False), f"{where}: not privileged")
        limits = c.get("resources", {}).get("limits", {})
        requests = c.get("resources", {}).get("requests", {})
        check({"cpu", "memory"} <= limits.keys() and {"cpu", "memory"} <= requests.keys(),
              f"{where}: CPU and memory requests and limits")
        for m in c.get("volumeMounts", []):
            check(m["name"] in volumes or m["name"] in claims,
                  f"{where}: volume {m['name']} (mounted at {m['mountPath']}) exists")
            source = volumes.get(m["name"], {})
            if "subPath" in m:
                check(m["subPath"] in keys_of(objects, source),
                      f"{where}: {m['mountPath']} is key {m['subPath']} of its volume")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = objects.get(("Secret", ref["name"]))
                check(secret is not None and ref["key"] in secret["stringData"],
                      f"{where}: env {e['name']} reads key {ref['key']} of Secret {ref['name']}")
    for v in volumes.values():
        for kind, field, key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            if field in v:
                check((kind, v[field][key]) in objects,
                      f"{name}: volume {v['name']} comes from {kind} {v[field][key]}, which exists")


def keys_of(objects, volume):
    """The file names a ConfigMap or Secret volume holds."""
    if "configMap" in volume:
        return set(objects[("ConfigMap", volume["configMap"]["name"])]["data"])
    if "secret" in volume:
        return set(objects[("Secret", volume["secret"]["secretName"])]["stringData"])
    return set()


def mounts_of(pod, container_name):
    """mountPath → (mount, volume) for one container."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    c = next(c for c in containers(pod) if c["name"] == container_name)
    return {m["mountPath"]: (m, volumes.get(m["name"], {})) for m in c.get("volumeMounts", [])}


def collector_promises(objects, sts):
    pod = sts["spec"]["template"]["spec"]
    c = pod["containers"][0]
    check(sts["spec"]["replicas"] == 1, "collector: one replica (each collector has its own store)")
    check(any(t["metadata"]["name"] == "data" for t in sts["spec"]["volumeClaimTemplates"]),
          "collector: a PersistentVolumeClaim template for its data")
    check(pod["securityContext"].get("fsGroup") == USER, "collector: the volumes belong to its group")
    probes = {p: c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    check(probes == {"startupProbe": "/-/healthy", "livenessProbe": "/-/healthy",
                     "readinessProbe": "/-/ready"},
          f"collector: probes on /-/healthy and /-/ready ({probes})")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports == {"grpc": 7070, "http": 9090}, f"collector: ports grpc 7070 and http 9090 ({ports})")

    # Every file the config names is a key of the ConfigMap or Secret mounted over it.
    config = tomllib.loads(objects[("ConfigMap", "vigil-collector-config")]["data"]["collector.toml"])
    mounts = mounts_of(pod, c["name"])
    check(mounts.get("/etc/vigil/collector.toml", ({}, {}))[0].get("subPath") == "collector.toml",
          "collector: collector.toml is mounted where the image's entrypoint reads it")
    paths = [t["secret"]["file"] for t in config["auth"]["tokens"]]
    paths += [config["tls"][k] for k in ("cert_file", "key_file")]
    paths += [config["enroll"][k] for k in ("ca_cert_file", "ca_key_file")]
    paths += config["rules"]["files"]
    for path in paths:
        directory, file = os.path.split(path)
        mount = mounts.get(directory)
        found = mount is not None and any(fnmatch.fnmatch(k, file) for k in keys_of(objects, mount[1]))
        check(found, f"collector: {path} (in collector.toml) is a key of the volume at {directory}")
    for key in ("data_dir", "backup_dir"):
        path = config["storage"][key]
        check(mounts.get(os.path.dirname(path), ({}, {}))[0].get("name") == "data",
              f"collector: storage.{key} {path} is on the PersistentVolume")


def agent_promises(ds):
    pod = ds["spec"]["template"]["spec"]
    agent = next(c for c in pod["containers"] if c["name"] == "agent")
    check(pod.get("hostPID") is True and pod.get("hostNetwork") is True,
          "agent: the host's PID and network namespaces")
    check(pod.get("dnsPolicy") == "ClusterFirstWithHostNet",
          "agent: resolves cluster names on the host's network")
    check({"operator": "Exists"} in pod.get("tolerations", []), "agent: tolerates every taint")
    sc = agent.get("securityContext", {})
    check(sc.get("runAsNonRoot", True) and sc.get("runAsUser", USER) == USER
          and not sc.get("capabilities", {}).get("add"),
          "agent: the agent container runs as uid 65532 with no capability")
    for init in pod.get("initContainers", []):
        added = init.get("securityContext", {}).get("capabilities", {}).get("add", [])
        check(added == ["CHOWN"], f"agent: init container {init['name']} adds CHOWN only ({added})")
    mounts = mounts_of(pod, "agent")
    for host, inside in (("/proc", "/host/proc"), ("/sys", "/host/sys"), ("/", "/host/root")):
        mount, volume = mounts.get(inside, ({}, {}))
        check(volume.get("hostPath", {}).get("path") == host and mount.get("readOnly") is True,
              f"agent: the host's {host} read-only at {inside}")
    check(mounts.get("/host/root", ({}, {}))[0].get("mountPropagation") == "HostToContainer",
          "agent: filesystems mounted on the host later reach /host/root")
    state = mounts.get("/var/lib/vigil-agent", ({}, {}))[1].get("hostPath", {})
    check(state == {"path": "/var/lib/vigil-agent", "type": "DirectoryOrCreate"},
          f"agent: its state on the host's /var/lib/vigil-agent ({state})")
    env = {e["name"]: e for e in agent["env"]}
    check(env.get("VIGIL_AGENT__HOSTNAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
          == "spec.nodeName", "agent: reports the node's name")
    for name in ("VIGIL_AGENT__ENROLL__TOKEN", "VIGIL_AGENT__ENROLL__CA_FINGERPRINT"):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef", {})
        check(ref.get("name") == "vigil-agent-join", f"agent: {name} from Secret vigil-agent-join")
    args = agent.get("args", [])
    for flag in ("--identity-dir", "--spool-dir"):
        value = args[args.index(flag) + 1] if flag in args else ""
        check(value.startswith("/var/lib/vigil-agent/"), f"agent: {flag} {value} on the host's state directory")


def services(objects, sts):
    pod = sts["spec"]["template"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    for (kind, name), svc in objects.items():
        if kind != "Service":
            continue
        check(svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items(),
              f"Service {name} selects the collector's pod")
        for p in svc["spec"]["ports"]:
            check(p["targetPort"] in ports, f"Service {name}: port {p['name']} targets a named container port")
    headless = objects.get(("Service", sts["spec"]["serviceName"]))
    check(headless is not None and headless["spec"].get("clusterIP") == "None",
          f"collector: serviceName {sts['spec']['serviceName']} is a headless Service")


def extract(objects, sts, ds, out_dir):
    """Writes the collector's config and rules, and the agent's arguments and environment."""
    os.makedirs(os.path.join(out_dir, "rules"), exist_ok=True)
    with open(os.path.join(out_dir, "collector.toml"), "w") as f:
        f.write(objects[("ConfigMap", "vigil-collector-config")]["data"]["collector.toml"])
    for key, text in objects[("ConfigMap", "vigil-collector-rules")]["data"].items():
        with open(os.path.join(out_dir, "rules", key), "w") as f:
            f.write(text)
    agent = next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "agent")
    env = {}
    for e in agent["env"]:
        source = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[e["name"]] = objects[("Secret", ref["name"])]["stringData"][ref["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = NODE_NAME
        else:
            check(False, f"agent: env {e['name']} has a source this check cannot resolve")
    with open(os.path.join(out_dir, "agent.json"), "w") as f:
        json.dump({"args": agent.get("args", []), "env": env}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
