// The command-line tools beside `serve` and `worker`: `healthcheck` (a container's HEALTHCHECK),
// `config check`, `config dump` and `sign`. Each prints to stdout/stderr and returns the
// process's exit status. Main thread only.
#pragma once

#include <chrono>
#include <string>

#include "origin/config.h"

namespace imgorigin::origin {

// http://<bind>/health, with a wildcard host (0.0.0.0, ::, "") probed on loopback; "" when the
// bind address has port 0 (no port to probe).
std::string DefaultHealthUrl(const Config& config);
// GET `url` within `timeout`: 0 when it answers 200, else 1 (with the reason on stderr).
int Healthcheck(const std::string& url, std::chrono::milliseconds timeout);

// `config check`: the configuration loaded (else main already failed); unknown IMGORIGIN_*
// variables in `variables` are errors here. 0 = fine, 2 = not.
int CheckConfig(const Config& config, const std::vector<std::string>& variables);
// Logs a warning per unknown IMGORIGIN_* variable (serve, worker).
void WarnUnknownVariables(const std::vector<std::string>& variables);

// `sign PATH [--base-url URL]`: checks the path as the server would (options through the URL
// grammar, source), then prints it signed, after `base_url` when given.
int SignPath(const Config& config, const std::string& path, const std::string& base_url);

}  // namespace imgorigin::origin
