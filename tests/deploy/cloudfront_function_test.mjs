// Runs the CloudFront Function of deploy/terraform (accept.js, plain cloudfront-js-2.0 code with
// no exports) in a fresh V8 context, as CloudFront would, over the Accept headers real browsers
// send and the edge cases of imgorigin's own negotiation (transforms/format.cc: exact type,
// case-insensitive, q > 0, first q= wins, malformed q = 0), and checks the normalised header.
//   node tests/deploy/cloudfront_function_test.mjs deploy/terraform/accept.js
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { Checks } from "./require.mjs";

const file = process.argv[2];
if (!file) {
  console.error("usage: cloudfront_function_test.mjs <accept.js>");
  process.exit(2);
}
const context = vm.createContext({});
vm.runInContext(readFileSync(file, "utf8"), context, { filename: file, timeout: 1000 });
if (typeof context.handler !== "function") {
  console.error(`FAIL: ${file} defines no handler(event)`);
  process.exit(1);
}

const both = "image/avif,image/webp";
const cases = [
  // Browsers (image requests).
  ["Chrome", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", both],
  ["Firefox", "image/avif,image/webp,*/*", both],
  ["Safari 17", "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", both],
  ["Safari 15", "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", "image/webp"],
  ["Safari 13", "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", undefined],
  ["curl", "*/*", undefined],
  ["no header", undefined, undefined],
  ["empty", "", undefined],
  // imgorigin's rules.
  ["AVIF only", "image/avif", "image/avif"],
  ["upper case and spaces", "  IMAGE/WEBP ; Q=0.5 ", "image/webp"],
  ["q=0 refuses", "image/avif;q=0, image/webp", "image/webp"],
  ["q=0.0 refuses", "image/webp;q=0.0", undefined],
  ["first q wins", "image/webp;q=0;q=1", undefined],
  ["malformed q refuses", "image/webp;q=abc", undefined],
  ["q over 1 refuses", "image/webp;q=2", undefined],
  ["other params kept apart", "image/webp;level=1;q=0.3", "image/webp"],
  ["no prefix match", "image/webpx,image/avif2", undefined],
  ["wildcards are not AVIF", "image/*", undefined],
];

const c = new Checks();
for (const [name, accept, expected] of cases) {
  const headers = { host: { value: "img.example.com" } };
  if (accept !== undefined) headers.accept = { value: accept };
  const event = { version: "1.0", context: {}, viewer: { ip: "192.0.2.1" },
                  request: { method: "GET", uri: "/sig/rs:fit:300:300/plain/s3://b/k.jpg",
                             querystring: {}, headers, cookies: {} } };
  const out = context.handler(event);
  c.expect(out && out.uri === event.request.uri && out.headers.host?.value === "img.example.com",
           `${name}: the request is not passed on unchanged`);
  const got = out?.headers?.accept?.value;
  c.expect(got === expected, `${name}: Accept "${accept}" -> "${got}", want "${expected}"`);
}
const ok = c.report(file);
console.log(`${ok ? "ok" : "FAILED"}: ${cases.length} Accept headers`);
process.exit(ok ? 0 : 1);
