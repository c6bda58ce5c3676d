// Validates the Prometheus Operator custom resources dumped by `checks.py crs` against the
// schemas of the npm package @kubernetes-models/prometheus-operator (generated from the
// operator's CRDs: types, enums, required fields, patterns). Those schemas, like the CRDs,
// allow unknown fields; checks.py's structural check covers that.
// Usage: node crs.mjs NODE_MODULES_DIR CRS.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, input] = process.argv.slice(2);
const pkg = join(modules, "@kubernetes-models", "prometheus-operator", "monitoring.coreos.com", "v1", "index.js");
const models = await import(pathToFileURL(pkg).href);
const version = JSON.parse(
  readFileSync(join(modules, "@kubernetes-models", "prometheus-operator", "package.json"), "utf8"),
).version;

let failed = false;
for (const { file, object } of JSON.parse(readFileSync(input, "utf8"))) {
  const Model = models[object.kind];
  const name = `custom resource schema (@kubernetes-models/prometheus-operator ${version}): ${file} ${object.kind}/${object.metadata?.name}`;
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
