// Prints an image URL path built by imgproxy's official Node.js URL builder, so the integration
// tests can check that URLs from the imgproxy ecosystem work unchanged against imgorigin.
// Usage: node imgproxy_node_url.mjs <key-hex> <salt-hex> <source-url> <options-json> [base64|plain]
import { generateImageUrl } from "@imgproxy/imgproxy-node";

const [key, salt, source, optionsJson, displayAs = "base64"] = process.argv.slice(2);
const url = generateImageUrl({
  endpoint: "http://origin.invalid",
  url: { value: source, displayAs },
  options: JSON.parse(optionsJson),
  key,
  salt,
});
process.stdout.write(new URL(url).pathname + "\n");
