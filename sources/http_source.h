// Originals from HTTP(S) servers: "http://…" and "https://…" sources.
//
// Three fences, each re-applied at every redirect hop (redirects are followed here, not by
// libcurl, up to max_redirects):
//   - the URL must start with one of allowed_prefixes (when any are configured), and then may
//     hold no dot segment in any spelling (see HasDotSegment): the URL goes out as checked, but
//     the server would resolve "/img/../secret" outside the prefix "/img/";
//   - only http and https;
//   - the address actually connected to — after DNS, for every connection attempt — must be
//     public, unless it is inside allowed_networks or allow_private_networks is set. That blocks
//     loopback, private, link-local (the 169.254.169.254 metadata service), unique-local,
//     multicast and IPv4-in-IPv6 forms of them, whatever name or redirect led there.
// Characters a URL cannot carry (spaces, UTF-8, quotes …) are percent-encoded; existing escapes
// are kept. Fetch() blocks on the network: call it from an I/O thread. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sources/source.h"
#include "storage/curl_client.h"
#include "storage/fetch_config.h"

namespace imgorigin::sources {

class HttpSource final : public Source {
 public:
  struct Config {
    bool enabled = true;
    // Empty: any http(s) URL (URLs are signed, and the address guard keeps internal networks
    // out). Each prefix must include scheme, host and the "/" after it, e.g.
    // "https://images.example.com/" — so "https://images.example.com.evil.net" never matches.
    std::vector<std::string> allowed_prefixes;
    bool allow_private_networks = false;
    std::vector<std::string> allowed_networks;  // CIDRs reachable even though not public
    int max_redirects = 5;

    common::Result<void> Validate() const;
  };

  static common::Result<std::unique_ptr<HttpSource>> Create(const Config& config,
                                                            const storage::FetchConfig& fetch,
                                                            int64_t max_bytes);

  common::Result<SourceImage> Fetch(std::string_view url) const override;

 private:
  HttpSource(const Config& config, const storage::FetchConfig& fetch, int64_t max_bytes,
             storage::AddressPolicy policy);
  common::Result<void> CheckUrl(std::string_view url) const;

  const Config config_;
  const storage::FetchConfig fetch_;
  const int64_t max_bytes_;
  storage::CurlClient http_;
};

// Percent-encodes what may not appear in a URL (controls, space, non-ASCII, "\"<>\\^`{|}") and
// drops a "#fragment"; everything else, existing %XX escapes included, is kept.
std::string NormalizeHttpUrl(std::string_view url);

// Whether the path of an http(s) URL holds a "." or ".." segment as some server may read it:
// percent-escapes decoded (repeatedly: "%2e", "%252e"), "/" or "\" literal or escaped ("%2f",
// "%5c") as separators, and a ";parameter" ignored ("..;", as Tomcat reads it).
bool HasDotSegment(std::string_view url);

}  // namespace imgorigin::sources
