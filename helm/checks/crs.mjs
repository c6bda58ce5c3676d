// Validates the custom resources dumped by `checks.py crs` against the schemas of the npm packages
// @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule) and
// @kubernetes-models/keda (ScaledObject), generated from the operators' CRDs: types, enums,
// required fields, patterns, and for a ScaledObject the HPA behavior against Kubernetes' own
// schema. Those schemas, like the CRDs, allow unknown fields; checks.py's structural check covers
// that.
// Usage: node crs.mjs NODE_MODULES_DIR CRS.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, input] = process.argv.slice(2);
// apiVersion -> the package and the module of that group/version in it.
const PACKAGES = {
  "monitoring.coreos.com/v1": ["prometheus-operator", "monitoring.coreos.com/v1/index.js"],
  "keda.sh/v1alpha1": ["keda", "keda.sh/v1alpha1/index.js"],
};
const loaded = {};
async function models(apiVersion) {
  if (!(apiVersion in PACKAGES)) return null;
  if (!loaded[apiVersion]) {
    const [pkg, module] = PACKAGES[apiVersion];
    const dir = join(modules, "@kubernetes-models", pkg);
    const version = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
    loaded[apiVersion] = { label: `@kubernetes-models/${pkg} ${version}`, models: await import(pathToFileURL(join(dir, module)).href) };
  }
  return loaded[apiVersion];
}

let failed = false;
for (const { file, object } of JSON.parse(readFileSync(input, "utf8"))) {
  const found = await models(object.apiVersion);
  const Model = found?.models[object.kind];
  const name = `custom resource schema (${found?.label ?? "no package"}): ${file} ${object.kind}/${object.metadata?.name}`;
  if (!Model || object.apiVersion !== Model.apiVersion) {
    console.log(`FAIL ${name}\n     no schema for ${object.apiVersion} ${object.kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}`);
    for (const d of e.errors ?? [e]) {
      console.log(`     ${d.instancePath ?? ""} ${d.message ?? String(d)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
