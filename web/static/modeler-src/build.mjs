// Bundle modeler.js with esbuild into web/static/vendor/modeler/, copy the CSS and fonts it needs and
// collect the licences of every package in the bundle (run with `npm run build-modeler`).
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const modules = join(root, "node_modules");
const target = join(root, "web", "static", "vendor", "modeler");

rmSync(target, { recursive: true, force: true });
mkdirSync(join(target, "assets"), { recursive: true });

const result = await build({
  entryPoints: [join(root, "web", "static", "modeler-src", "modeler.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2019",
  legalComments: "none",
  metafile: true,
  outfile: join(target, "modeler.min.js"),
  logLevel: "warning",
});

// the CSS the page loads; bpmn.css loads its icon font from ../font/
const css = [
  ["bpmn-js/dist/assets/diagram-js.css", "assets/diagram-js.css"],
  ["bpmn-js/dist/assets/bpmn-js.css", "assets/bpmn-js.css"],
  ["bpmn-js/dist/assets/bpmn-font/css/bpmn.css", "assets/bpmn-font/css/bpmn.css"],
  ["@bpmn-io/properties-panel/dist/assets/properties-panel.css", "assets/properties-panel.css"],
];
for (const font of ["bpmn.eot", "bpmn.woff2", "bpmn.woff", "bpmn.ttf", "bpmn.svg"]) {
  css.push([`bpmn-js/dist/assets/bpmn-font/font/${font}`, `assets/bpmn-font/font/${font}`]);
}
for (const [from, to] of css) {
  mkdirSync(dirname(join(target, to)), { recursive: true });
  cpSync(join(modules, from), join(target, to));
}

// every npm package with a file in the bundle, with its version and licence text
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) { packages.set(match[1], true); }
}
const sections = [];
for (const name of [...packages.keys()].sort()) {
  const folder = join(modules, name);
  const meta = JSON.parse(readFileSync(join(folder, "package.json"), "utf8"));
  const file = readdirSync(folder).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(folder, file), "utf8").trim() : `License: ${meta.license}`;
  sections.push(`${name} ${meta.version} (${meta.license})\n\n${text}\n`);
}
writeFileSync(join(target, "LICENSES.txt"),
  "Packages bundled into modeler.min.js and their licences.\n\n" + sections.join("\n" + "-".repeat(72) + "\n\n"));
console.log(`modeler bundle: ${packages.size} packages -> web/static/vendor/modeler`);
