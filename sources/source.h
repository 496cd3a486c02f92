// Where originals come from. A Source fetches the bytes of one source URL; SourceRouter picks
// the Source by the URL's scheme ("local", "s3", "http", "https").
//
// Fetch() may block (file or network I/O): call it from a pool thread, never from an event
// loop. Implementations are safe to call from several threads at once. The router does not own
// its sources; they outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "storage/curl_client.h"
#include "storage/spilled_file.h"

namespace imgorigin::sources {

struct SourceImage {
  common::SharedBytes bytes;  // the whole original, unless `file` is set
  int64_t last_modified = 0;  // unix seconds; 0 = unknown
  // Set instead of `bytes` for originals too large to hold in memory (streamed to disk).
  std::shared_ptr<const storage::SpilledFile> file;

  int64_t size() const {
    if (file) return file->size();
    return bytes ? static_cast<int64_t>(bytes->size()) : 0;
  }
};

// The original carried by a 2xx response, in memory or as the file it was spilled to.
SourceImage TakeSourceImage(storage::HttpResponse&& response);

class Source {
 public:
  virtual ~Source() = default;
  // `url` is the whole source URL as parsed from the image URL, e.g. "local:///a/b.jpg".
  virtual common::Result<SourceImage> Fetch(std::string_view url) const = 0;
};

class SourceRouter {
 public:
  void Add(std::string scheme, const Source* source) { sources_[std::move(scheme)] = source; }

  common::Result<SourceImage> Fetch(std::string_view url) const {
    std::string scheme(url.substr(0, url.find(':')));
    auto it = sources_.find(scheme);
    if (it == sources_.end()) {
      return common::Fail(common::ErrorCode::kNotFound,
                          scheme + " sources are not enabled on this server");
    }
    return it->second->Fetch(url);
  }

 private:
  std::map<std::string, const Source*, std::less<>> sources_;
};

}  // namespace imgorigin::sources
