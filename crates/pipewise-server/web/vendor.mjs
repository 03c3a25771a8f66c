// Copies the chart library the pages use into assets/vendor/, where the
// server embeds it at compile time (the binary needs no Node and no CDN).
// Run after changing chart.js's version in package.json: npm run vendor
import { copyFileSync, readFileSync } from "node:fs";

const from = "node_modules/chart.js/dist/chart.umd.min.js";
copyFileSync(from, "assets/vendor/chart.umd.min.js");
copyFileSync("node_modules/chart.js/LICENSE.md", "assets/vendor/chart.js-LICENSE.md");
const version = JSON.parse(readFileSync("node_modules/chart.js/package.json")).version;
console.log(`assets/vendor/chart.umd.min.js: Chart.js ${version}`);
