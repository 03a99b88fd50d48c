#!/usr/bin/env node
// Validates custom resources (operators' CRDs) that kubernetes-validate has no schema for.
//
// Input (stdin): a JSON array of Kubernetes objects.
// Output (stdout): one JSON line per object: {kind, name, status: "valid"|"invalid"|"skipped", errors|reason}.
// Exit code: 1 if any object is invalid, else 0 (skipped objects do not fail the run).
//
// The schemas come from the pinned @kubernetes-models packages (generated from the operators' Go
// API types). They check types, required fields, enums and patterns; they do NOT reject unknown
// fields, so a misspelt optional field passes here (tests/deploy/test_manifests.py pins the fields
// we rely on).

const MODELS = {
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "postgresql.cnpg.io/v1": "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1",
};

// Custom resources no registry package ships a schema for (see deploy/k8s/README.md).
const NO_SCHEMA = {
  "rabbitmq.com/v1beta1/RabbitmqCluster":
    "no RabbitmqCluster schema is available from a package registry; checked by tests/deploy only",
};

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function validateOne(obj) {
  const kind = obj.kind;
  const name = obj.metadata?.name;
  const key = `${obj.apiVersion}/${kind}`;
  if (NO_SCHEMA[key]) return { kind, name, status: "skipped", reason: NO_SCHEMA[key] };
  const base = MODELS[obj.apiVersion];
  if (!base) return { kind, name, status: "skipped", reason: `no validator for ${obj.apiVersion}` };
  let mod;
  try {
    mod = await import(`${base}/${kind}`);
  } catch (err) {
    return { kind, name, status: "invalid", errors: [`unknown kind ${key}: ${err.message}`] };
  }
  const Model = mod[kind];
  try {
    new Model(obj).validate();
    return { kind, name, status: "valid" };
  } catch (err) {
    return { kind, name, status: "invalid", errors: [err.message] };
  }
}

const objects = JSON.parse(await readStdin());
let failed = false;
for (const obj of objects) {
  const result = await validateOne(obj);
  if (result.status === "invalid") failed = true;
  process.stdout.write(JSON.stringify(result) + "\n");
}
process.exit(failed ? 1 : 0);
